"""System metrics, as W&B and DVCLive log them: the trainer process's CPU and resident memory
(psutil) and, on a GPU, the torch allocator's allocated/reserved/peak memory of the trainer's
device and the device's utilisation and used memory (NVML through nvidia-ml-py, when installed).
Sampled at most every `logging.system_every_s` seconds, logged as `system/*` in that step's metrics."""

from __future__ import annotations

import time
from typing import Callable

GB = 1024**3


class SystemMonitor:
    def __init__(self, every_s: float, device, log: Callable[[str], None] = print, clock=time.monotonic):
        self.every_s, self.device, self.clock = every_s, device, clock
        self._last: float | None = None
        self._process = self._nvml = None
        if every_s <= 0:
            return
        try:
            import psutil
        except ImportError:
            log("system metrics: psutil is not installed (pip install psutil); no system/cpu_percent or system/rss_gb")
        else:
            self._process = psutil.Process()
            self._process.cpu_percent(None)  # the first call starts the interval the next one measures
        if getattr(device, "type", None) == "cuda":
            self._nvml = _nvml_handle(device, log)

    def sample(self) -> dict[str, float]:
        """The system/* values when `every_s` has passed since the last sample (and at the first call), else {}."""
        now = self.clock()
        if self.every_s <= 0 or (self._last is not None and now - self._last < self.every_s):
            return {}
        self._last = now
        values: dict[str, float] = {}
        if self._process is not None:
            values["system/cpu_percent"] = float(self._process.cpu_percent(None))
            values["system/rss_gb"] = self._process.memory_info().rss / GB
        if getattr(self.device, "type", None) == "cuda":
            import torch

            values["system/gpu_allocated_gb"] = torch.cuda.memory_allocated(self.device) / GB
            values["system/gpu_reserved_gb"] = torch.cuda.memory_reserved(self.device) / GB
            values["system/gpu_peak_gb"] = torch.cuda.max_memory_allocated(self.device) / GB
        if self._nvml is not None:
            import pynvml

            values["system/gpu_util_percent"] = float(pynvml.nvmlDeviceGetUtilizationRates(self._nvml).gpu)
            values["system/gpu_memory_used_gb"] = pynvml.nvmlDeviceGetMemoryInfo(self._nvml).used / GB
        return values


def _nvml_handle(device, log: Callable[[str], None]):
    try:
        import pynvml
    except ImportError:
        log("system metrics: nvidia-ml-py is not installed (pip install 'pacslab[system]'); no GPU utilisation")
        return None
    try:
        import torch

        pynvml.nvmlInit()
        props = torch.cuda.get_device_properties(device.index if device.index is not None else torch.cuda.current_device())
        # by PCI bus id: CUDA_VISIBLE_DEVICES renumbers torch's devices, NVML counts them all
        return pynvml.nvmlDeviceGetHandleByPciBusId(f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0")
    except Exception as exc:  # noqa: BLE001 - NVML missing in a container is common; train on without it
        log(f"system metrics: NVML unavailable ({exc}); no GPU utilisation")
        return None
