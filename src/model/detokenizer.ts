/**
 * Streaming token -> text (PHI3.md 6.5). Generation produces one id at a time, and a character
 * outside the vocabulary arrives as several BYTE tokens (an emoji is four), so text may only be
 * released once its UTF-8 sequence is complete. A streaming `TextDecoder` does exactly that: it
 * holds back an incomplete tail and turns bytes that can no longer form a character into U+FFFD
 * as soon as that is certain, so the concatenated output equals a one-shot decode of all bytes.
 */
import type { TextTokenizer } from './tokenizer.ts';

export interface StreamDecoderOptions {
  /**
   * Drop one leading space of the first token, as llama.cpp's `detokenize` does when the vocab
   * adds a space prefix. For a reply, whose first piece is usually "▁Word" because the prompt
   * ends in a special token. Like llama.cpp this looks at the first token only: if that token
   * decodes to nothing (a control token), no space is dropped later. Ignored for a vocab that
   * adds no space prefix (GPT-2 byte-level BPE): there the space is the model's own.
   */
  stripLeadingSpace?: boolean;
}

export class StreamDecoder {
  private readonly tokenizer: TextTokenizer;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private stripPending: boolean;

  constructor(tokenizer: TextTokenizer, opts: StreamDecoderOptions = {}) {
    this.tokenizer = tokenizer;
    this.stripPending = (opts.stripLeadingSpace ?? false) && tokenizer.vocab.addSpacePrefix;
  }

  /**
   * Feeds one generated id; returns the text completed by it (often "", never a broken
   * character). CONTROL tokens give nothing, USER_DEFINED tokens their literal text.
   */
  push(id: number): string {
    let bytes = this.tokenizer.pieceBytes(id, false);
    if (this.stripPending) {
      this.stripPending = false;
      if (bytes.length > 0 && bytes[0] === 0x20) bytes = bytes.subarray(1);
    }
    if (bytes.length === 0) return '';
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Ends the stream: a still-incomplete byte sequence becomes U+FFFD. Use a new decoder per reply. */
  flush(): string {
    return this.decoder.decode();
  }
}
