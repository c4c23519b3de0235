// The exported tokenizer.json, used as the trainer uses its tokenizer (trainer/pacslab/scoring.py
// ScoringTokenizer does the same): the prompt with the tokenizer's special tokens, the response
// without, then EOS.
import { Tokenizer } from '@huggingface/tokenizers';
import { parseBoundedJson, RUN_LIMITS } from '../../run/model/boundedJson';
import { readRunFile } from '../../run/model/runFiles';
import { ScoreError } from './implicitReward';
import type { TokenizerInfo } from './manifest';

/** Characters that may encode to nothing without being unknown (a whitespace pre-tokenizer drops them). */
const WHITESPACE = new Set([' ', '\t', '\n', '\r', '\f', '\v']);

export interface Encoded {
  promptIds: number[];
  responseIds: number[];
  unknownChars: string[];
}

export class ScoringTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly info: TokenizerInfo,
  ) {}

  /** From the export's tokenizer.json and its config (paths checked by manifest.ts exportFilePath). */
  static async load(jsonPath: string, configPath: string, info: TokenizerInfo): Promise<ScoringTokenizer> {
    // capped and depth-checked before parsing, like every run file (a run folder is untrusted)
    const read = async (path: string): Promise<object> => {
      try {
        return parseBoundedJson(await readRunFile(path, RUN_LIMITS.maxTokenizerBytes)) as object;
      } catch (err) {
        const message = (err as Error).message;
        throw new ScoreError(`${message.startsWith(path) ? '' : `${path}: `}${message}; export the run again`);
      }
    };
    const [json, config] = [await read(jsonPath), await read(configPath)];
    return new ScoringTokenizer(new Tokenizer(json, config), info);
  }

  encode(prompt: string, response: string, eos: boolean): Encoded {
    const unknownChars = this.unknownChars(prompt + response);
    if (unknownChars.length > 0 && this.info.unk_token_id === null) {
      const listed = unknownChars.map(describeChar).join(', ');
      throw new ScoreError(`characters outside the tokenizer's vocabulary, which has no unknown token: ${listed}; remove or replace them`);
    }
    const promptIds = this.encodePrompt(prompt);
    const responseIds = [...this.ids(response, false), ...(eos ? [this.info.eos_token_id] : [])];
    if (responseIds.length === 0) {
      throw new ScoreError('the response encodes to no tokens and --no-eos drops the EOS: nothing to score; give a response or leave out --no-eos');
    }
    return { promptIds, responseIds, unknownChars };
  }

  encodePrompt(prompt: string): number[] {
    const ids = this.ids(prompt, this.info.prompt_add_special_tokens);
    if (ids.length === 0) {
      throw new ScoreError('the prompt encodes to no tokens: the first response token needs a prompt token to be predicted from; give a non-empty prompt');
    }
    return ids;
  }

  /**
   * Ids of a rollout record's `tokens` (one string per sampled token), or null when any of them is
   * not a vocabulary entry (a byte-level tokenizer's decoded pieces are not).
   */
  loggedIds(tokens: unknown): number[] | null {
    if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((t) => typeof t === 'string')) return null;
    const ids = tokens.map((t: string) => this.tokenizer.token_to_id(t));
    return ids.every((id) => id !== undefined) ? (ids as number[]) : null;
  }

  /** Characters that encode, alone, to the unknown token, or to nothing (whitespace aside). */
  unknownChars(text: string): string[] {
    const unk = this.info.unk_token_id;
    return [...new Set(Array.from(text))].filter((char) => {
      const ids = this.tokenizer.encode(char, { add_special_tokens: false }).ids as (number | undefined)[];
      const nothing = ids.length === 0 || ids.some((id) => id === undefined);
      return (unk !== null && ids.includes(unk)) || (nothing && !WHITESPACE.has(char));
    });
  }

  tokenText(id: number): string {
    return this.tokenizer.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  private ids(text: string, addSpecialTokens: boolean): number[] {
    if (text === '') return [];
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }
}

function describeChar(char: string): string {
  return `${JSON.stringify(char)} (U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`;
}
