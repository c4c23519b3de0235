"""Loading the policy and computing per-token log-probabilities of responses."""

from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path

import torch

from pacslab.model_paths import ADAPTER_CONFIG, ASSETS_DIR, BUILTIN_PREFIX, is_adapter_dir, resolve_model_path  # noqa: F401 - re-exported

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(spec: str) -> torch.device:
    """`auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise ValueError(f"device is {spec!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"device is {spec!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"device is {spec!r} but PyTorch sees no CUDA device (torch {torch.__version__}); set device: cpu or auto, or install a CUDA build of PyTorch")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device is {spec!r} but only {torch.cuda.device_count()} CUDA device(s) exist; use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"model.dtype is {dtype!r}: use auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def load_tokenizer(path):
    """The tokenizer of a local model directory, never the network. It pads on the left and always
    has pad and eos ids."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"the tokenizer in {path} has no eos token; set eos_token in its tokenizer_config.json")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_policy(path, *, device: torch.device, dtype: str = "auto", gradient_checkpointing: bool = False,
                lora=None, adapter=None):
    """(model, tokenizer) from a local directory, never the network. With `lora` (the config's
    model.lora) the model gets fresh LoRA adapters, with `adapter` (a checkpoint directory of such a
    run) the saved ones; either way only the adapters train. The adapters sit inside the model
    (PEFT's `inject_adapter_in_model`), so it keeps its own class and forward signature."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(adapter or path)
    model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=resolve_dtype(dtype, device))
    if adapter is not None:
        _load_adapter(model, Path(adapter))
    elif lora is not None:
        _inject_lora(model, lora_config(lora))
    model.to(device)
    if gradient_checkpointing:
        if adapter is not None or lora is not None:
            model.enable_input_require_grads()  # the frozen embeddings would otherwise cut the checkpointed graph
        enable_checkpointing(model)
        model.config.use_cache = False
    return model, tokenizer


ADAPTER_WEIGHTS = "adapter_model.safetensors"
# PEFT's file format names each tensor as a PeftModel wrapping the causal LM sees it.
_PEFT_PREFIX = "base_model.model."


def lora_config(lora):
    """PEFT's LoraConfig for the config's model.lora section."""
    from peft import LoraConfig

    targets = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                      bias="none", task_type="CAUSAL_LM")


def _inject_lora(model, config) -> None:
    from peft import inject_adapter_in_model

    inject_adapter_in_model(config, model, adapter_name="default")
    model.peft_config = {"default": config}
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name)


def _load_adapter(model, adapter_dir: Path) -> None:
    from peft import LoraConfig, set_peft_model_state_dict
    from safetensors.torch import load_file

    _inject_lora(model, LoraConfig.from_pretrained(str(adapter_dir)))
    state = {k.removeprefix(_PEFT_PREFIX): v for k, v in load_file(str(adapter_dir / ADAPTER_WEIGHTS)).items()}
    result = set_peft_model_state_dict(model, state, adapter_name="default")
    missing = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
    if missing:
        raise ValueError(f"{adapter_dir / ADAPTER_WEIGHTS}: {len(missing)} tensors match no adapter of the model (e.g. {missing[0]}); resume with the run's own model.path")


def has_lora(model) -> bool:
    return isinstance(getattr(model, "peft_config", None), dict) and "default" in model.peft_config


def set_adapters(model, enabled: bool) -> None:
    """Switch every LoRA adapter of the model on or off (off = the base model, the KL reference)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.enable_adapters(enabled)


def save_adapter(model, out: Path, *, base) -> None:
    """The adapter alone in PEFT's format (adapter_config.json, adapter_model.safetensors), loadable
    by `PeftModel.from_pretrained(base, out)` and by `load_policy(..., adapter=out)`."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = get_peft_model_state_dict(model, adapter_name="default")
    save_file({_PEFT_PREFIX + k: v.detach().contiguous().cpu() for k, v in state.items()}, str(Path(out) / ADAPTER_WEIGHTS))
    config = model.peft_config["default"]
    config.base_model_name_or_path = str(base)
    config.save_pretrained(str(out))


def load_merged(checkpoint, *, base, dtype: torch.dtype = torch.float32):
    """A checkpoint as one plain transformers model (CPU, eval mode): a LoRA checkpoint's adapter
    merged into its `base` model, or a full checkpoint as it is."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM

    if not is_adapter_dir(checkpoint):
        return AutoModelForCausalLM.from_pretrained(str(checkpoint), local_files_only=True, dtype=dtype).eval()
    from peft import PeftModel

    model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True, dtype=dtype)
    return PeftModel.from_pretrained(model, str(checkpoint), is_trainable=False).merge_and_unload().eval()


def cache_kwarg(model) -> str:
    """The keyword the model's forward takes its KV cache by (`cache` since transformers 5.x)."""
    params = _forward_params(model)
    return "cache" if "cache" in params else "past_key_values"


def keep_logits_kwarg(model) -> str | None:
    params = _forward_params(model)
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return name
    return None


def _forward_params(model) -> frozenset[str]:
    cls = type(model)
    if cls not in _PARAMS_CACHE:
        _PARAMS_CACHE[cls] = frozenset(inspect.signature(model.forward).parameters)
    return _PARAMS_CACHE[cls]


_PARAMS_CACHE: dict[type, frozenset[str]] = {}


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that start at 0 on each row's first real token, whatever the left padding."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # [B, T]


def set_training(model: torch.nn.Module, training: bool) -> None:
    """model.train(training), skipped when the model is already in that mode (the call walks every module)."""
    if model.training != training:
        model.train(training)


def new_cache(model, capacity: int | None = None):
    """An empty DynamicCache laid out for `model` (sliding-window layers included, where it has any).

    With `capacity` (positions), its full-attention layers are `preallocated_layer()`s: a no-grad
    decode loop that feeds one token at a time then writes each token in place instead of
    concatenating a fresh copy of every layer's keys and values.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        cache = DynamicCache(config=model.config)
    except TypeError:  # transformers before the config argument
        cache = DynamicCache()
    if capacity is None:
        return cache
    layer = preallocated_layer()
    if cache.layers:
        cache.layers = [layer(capacity) if type(old) is DynamicLayer else old for old in cache.layers]
    elif cache.layer_class_to_replicate is DynamicLayer:  # layers made lazily, one per model layer
        cache.layer_class_to_replicate = lambda: layer(capacity)
    return cache


@functools.cache
def preallocated_layer():
    """A DynamicLayer whose keys and values live in [B, H, capacity, D] buffers allocated at its first
    update; `keys`/`values` are views of the filled positions, so attention reads exactly what
    DynamicLayer would hand it. Growing by concatenation allocates (and the kernel zero-fills) a
    new pair per layer and token: ~2 × B·H·T·D floats each, O(T²) bytes over a response."""
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        def __init__(self, capacity: int):
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            self.device = key_states.device
            rows, heads, _, _ = key_states.shape
            self.key_buffer = key_states.new_empty((rows, heads, self.capacity, key_states.shape[-1]))
            self.value_buffer = value_states.new_empty((rows, heads, self.capacity, value_states.shape[-1]))
            self.length = 0
            self.is_initialized = True

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if end > self.capacity:
                raise ValueError(f"the KV cache holds {self.capacity} positions and {end} were written: "
                                 "size it for the prompt plus every new token")
            self.key_buffer[:, :, self.length : end] = key_states
            self.value_buffer[:, :, self.length : end] = value_states
            self.length = end
            return self._views()

        def _views(self):
            self.keys = self.key_buffer[:, :, : self.length]  # [B, H, T, D]
            self.values = self.value_buffer[:, :, : self.length]  # [B, H, T, D]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length if self.is_initialized else 0

        def crop(self, tokens_to_remove: int) -> None:
            if tokens_to_remove > 0:
                raise ValueError(f"crop({tokens_to_remove}): pass the negative number of tokens to remove")
            if self.is_initialized and tokens_to_remove:
                self.length = max(0, self.length + tokens_to_remove)
                self._views()

        def batch_repeat_interleave(self, repeats: int) -> None:
            if self.get_seq_length() > 0:
                self.key_buffer = self.key_buffer.repeat_interleave(repeats, dim=0)
                self.value_buffer = self.value_buffer.repeat_interleave(repeats, dim=0)
                self._views()

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self.get_seq_length() > 0:
                self.key_buffer, self.value_buffer = self.key_buffer[indices], self.value_buffer[indices]
                self._views()

    return PreallocatedLayer


def enable_checkpointing(model) -> None:
    """Gradient (activation) checkpointing, by the name this transformers gives it (renamed in 5.x)."""
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


def can_share_prompts(model) -> bool:
    """Whether `grouped_sequence_logprobs` may be used: gradient checkpointing drops the KV cache the
    responses would read the shared prompt from, so such a model takes the one-pass route."""
    flag = "is_activation_checkpointing" if hasattr(type(model), "is_activation_checkpointing") else "is_gradient_checkpointing"
    return not getattr(model, flag, False)


LOGPROB_CHUNK_TOKENS = 2048


def _decoder_and_head(model):
    """(decoder, lm_head) when the model's logits are exactly lm_head(decoder's last hidden state),
    so log-probs can be taken chunk by chunk from hidden states; else None (the full logits route)."""
    config = getattr(model, "config", None)
    if any(getattr(config, name, None) not in (None, 1.0) for name in ("final_logit_softcapping", "logit_scale")):
        return None
    try:
        decoder, head = model.get_decoder(), model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    if decoder is None or decoder is model or not isinstance(head, torch.nn.Linear):
        return None
    return decoder, head


def _piece_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float, return_entropy: bool):
    """logp [b, c] of `targets` and entropy [b, c] or None under softmax(logits / T), in float32."""
    logits = logits.float()  # [b, c, V]
    if temperature != 1.0:
        logits = logits / temperature
    lse = torch.logsumexp(logits, dim=-1)  # [b, c]
    logp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse  # [b, c]
    if not return_entropy:
        return logp, None
    with torch.no_grad():
        detached = logits.detach()
        entropy = lse.detach() - (torch.softmax(detached, -1) * detached).sum(-1)  # [b, c]
    return logp, entropy


def _chunk_pieces(project, states: torch.Tensor, targets: torch.Tensor, *, temperature: float,
                  return_entropy: bool, chunk_tokens: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """(logp, entropy or None) [B, c] of consecutive chunks of positions, `chunk_tokens` positions of all
    rows at a time; `project` maps `states[:, a:b]` to logits [B, b−a, V].

    Only one chunk's fp32 logits exist at once: with a gradient and more than one chunk, each chunk
    is checkpointed, so the backward pass recomputes its logits instead of keeping every chunk's.
    """
    rows, width = targets.shape
    step = max(1, chunk_tokens // max(rows, 1))  # positions per chunk
    grad = torch.is_grad_enabled() and states.requires_grad and width > step

    def piece(part: torch.Tensor, part_targets: torch.Tensor):
        return _piece_logprobs(project(part), part_targets, temperature, return_entropy)

    pieces = []
    for a in range(0, width, step):
        if grad:
            from torch.utils.checkpoint import checkpoint

            pieces.append(checkpoint(piece, states[:, a : a + step], targets[:, a : a + step], use_reentrant=False))
        else:
            pieces.append(piece(states[:, a : a + step], targets[:, a : a + step]))
    return pieces


def _join(pieces, response_mask: torch.Tensor, return_entropy: bool):
    """logp [B, R] (0 where the mask is 0) and entropy [B, R] or None from the chunks' pieces."""
    mask = response_mask.to(torch.float32)  # [B, R]
    logp = torch.cat([lp for lp, _ in pieces], dim=1) * mask  # [B, R]
    entropy = torch.cat([ent for _, ent in pieces], dim=1) * mask if return_entropy else None  # [B, R]
    return logp, entropy


def _run(model, route, **kwargs):
    """Hidden states [B, T, H] through the decoder (`route` is `_decoder_and_head`'s), else logits [B, T', V]."""
    if route is None:
        keep = keep_logits_kwarg(model)
        keep_n = kwargs.pop("keep", None)
        if keep is not None and keep_n is not None:
            kwargs[keep] = keep_n
        return model(**kwargs).logits
    kwargs.pop("keep", None)
    return route[0](**kwargs).last_hidden_state


def _project(route):
    return (lambda x: x) if route is None else route[1]


def grouped_sequence_logprobs(model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
                              response_mask: torch.Tensor, *, n: int, return_entropy: bool = False,
                              temperature: float = 1.0, chunk_tokens: int = LOGPROB_CHUNK_TOKENS):
    """`sequence_logprobs` for G prompts × n responses each, running every prompt once instead of n times.

    The prompts ([G, P], left-padded) go through the model once, with gradient when it is enabled;
    their key/value cache is repeated n times and the responses ([G*n, R]; rows g*n .. g*n+n-1
    answer prompt g) run on top of it. The result is the same function of the parameters as the one-
    pass route (the same logits up to float rounding, the same gradient: it flows back through the
    repeated cache into the prompt), at P·G + (R−1)·G·n token positions instead of (P+R)·G·n.
    """
    groups, width = prompt_ids.shape[0], response_ids.shape[1]
    if response_ids.shape[0] != groups * n:
        raise ValueError(f"{response_ids.shape[0]} responses for {groups} prompts × n = {n}: groups were split or mixed")
    route = _decoder_and_head(model)
    cache = new_cache(model)
    kwargs = {cache_kwarg(route[0] if route else model): cache, "use_cache": True}
    positions = position_ids_from_mask(prompt_mask)  # [G, P]
    # Only left padding of the prompts needs a mask: the padding after a response's EOS is attended
    # by no real token (attention is causal), so without left padding the masks are left out.
    padded = not bool(prompt_mask.all())
    project = _project(route)
    first = _run(model, route, input_ids=prompt_ids, attention_mask=prompt_mask if padded else None,
                 position_ids=positions, keep=1, **kwargs)[:, -1:]  # [G, 1, H or V]: predicts response token 0
    # one position per prompt: its logits are formed once and repeated n times
    pieces = [_piece_logprobs(project(first).repeat_interleave(n, dim=0), response_ids[:, :1], temperature,
                              return_entropy)]  # [G*n, 1] each
    if width > 1:
        cache.batch_repeat_interleave(n)
        mask = (torch.cat([prompt_mask.repeat_interleave(n, dim=0), response_mask[:, : width - 1].to(prompt_mask.dtype)], dim=1)
                if padded else None)  # [G*n, P+R-1]
        steps = torch.arange(1, width, device=prompt_ids.device)
        response_positions = positions[:, -1:].repeat_interleave(n, dim=0) + steps  # [G*n, R-1]
        rest = _run(model, route, input_ids=response_ids[:, : width - 1], attention_mask=mask,
                    position_ids=response_positions, **kwargs)  # [G*n, R-1, H or V]: position t predicts token t+1
        pieces += _chunk_pieces(project, rest, response_ids[:, 1:], temperature=temperature,
                                return_entropy=return_entropy, chunk_tokens=chunk_tokens)
    return _join(pieces, response_mask, return_entropy)


def sequence_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_mask: torch.Tensor, *,
                      return_entropy: bool = False, temperature: float = 1.0, chunk_tokens: int = LOGPROB_CHUNK_TOKENS):
    """Log-probabilities of the response tokens (the last R columns of `input_ids`) under `model`,
    from softmax(logits / `temperature`): the distribution the rollout sampled at that temperature.

    One forward pass for the whole batch; the logits of the R positions that predict response
    tokens are formed `chunk_tokens` positions at a time from the last hidden states (never a full
    fp32 [B, R, V]). Returns (logp [B, R] with 0 where `response_mask` is 0, entropy [B, R] or None);
    the entropy carries no gradient.
    """
    response_len = response_mask.shape[1]
    route = _decoder_and_head(model)
    states = _run(model, route, input_ids=input_ids, attention_mask=attention_mask,
                  position_ids=position_ids_from_mask(attention_mask), use_cache=False,
                  keep=response_len + 1)  # [B, R+1 or T, H or V]
    states = states[:, -(response_len + 1) : -1]  # [B, R, H or V]: position t predicts token t+1
    targets = input_ids[:, -response_len:]  # [B, R]
    pieces = _chunk_pieces(_project(route), states, targets, temperature=temperature, return_entropy=return_entropy,
                           chunk_tokens=chunk_tokens)
    return _join(pieces, response_mask, return_entropy)
