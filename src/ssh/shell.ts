/**
 * The interactive console: a small line editor on a pty channel. Prompt, editing at the cursor
 * (← → Home End, Backspace, Ctrl-U), history (↑ ↓), Tab completion, Ctrl-C (clears the line, or stops a
 * running command such as tail), Ctrl-D or `exit` to leave. The editor only deals in strings; running
 * and completing commands are given to it.
 */
import { StringDecoder } from 'node:string_decoder';

export interface ShellIo {
  write(text: string): void;
  end(status: number): void;
}

export interface ShellDeps {
  prompt: string;
  /** Runs one line; the signal aborts on Ctrl-C. */
  run(line: string, signal: AbortSignal): Promise<number>;
  complete(line: string): { prefix: string; candidates: string[] };
  greeting?: string;
}

const HISTORY_MAX = 500;

export class Shell {
  private line = '';
  private cursor = 0;
  private readonly history: string[] = [];
  /** Position while browsing history; history.length means the line being written. */
  private browse = 0;
  private draft = '';
  private running: AbortController | undefined;
  private pending = '';
  private closed = false;
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly io: ShellIo, private readonly deps: ShellDeps) {}

  start(): void {
    if (this.deps.greeting) this.io.write(this.deps.greeting);
    this.io.write(this.deps.prompt);
  }

  /** Bytes from the terminal. */
  input(data: Buffer): void {
    this.pending += this.decoder.write(data);
    while (this.pending.length > 0 && !this.closed) {
      const consumed = this.key(this.pending);
      if (consumed === 0) break; // an incomplete escape sequence: wait for the rest
      this.pending = this.pending.slice(consumed);
    }
  }

  /** The channel went away: stop whatever runs. */
  close(): void {
    this.closed = true;
    this.running?.abort();
  }

  /** Handles the key at the start of `s`; returns how many characters it used. */
  private key(s: string): number {
    const ch = s[0]!;
    if (this.running) {
      if (ch === '\x03') this.running.abort();
      return 1; // typing while a command runs is dropped
    }
    if (ch === '\x1b') return this.escape(s);
    switch (ch) {
      case '\r':
      case '\n':
        this.enter();
        return ch === '\r' && s[1] === '\n' ? 2 : 1;
      case '\x7f':
      case '\b':
        if (this.cursor > 0) {
          this.line = this.line.slice(0, this.cursor - 1) + this.line.slice(this.cursor);
          this.cursor--;
          this.redraw();
        }
        return 1;
      case '\x03':
        this.io.write('^C\r\n');
        this.setLine('');
        this.io.write(this.deps.prompt);
        return 1;
      case '\x04':
        if (this.line === '') this.exit();
        return 1;
      case '\x15':
        this.setLine('');
        this.redraw();
        return 1;
      case '\x01':
        this.cursor = 0;
        this.redraw();
        return 1;
      case '\x05':
        this.cursor = this.line.length;
        this.redraw();
        return 1;
      case '\x0c':
        this.io.write('\x1b[H\x1b[2J');
        this.redraw();
        return 1;
      case '\t':
        this.tab();
        return 1;
      default:
        if (ch < ' ') return 1; // other control characters: ignored
        this.line = this.line.slice(0, this.cursor) + ch + this.line.slice(this.cursor);
        this.cursor++;
        if (this.cursor === this.line.length) this.io.write(ch);
        else this.redraw();
        return 1;
    }
  }

  private escape(s: string): number {
    if (s.length < 2) return 0;
    if (s[1] !== '[' && s[1] !== 'O') return 1;
    const m = /^\x1b[[O]([0-9;]*)([A-Za-z~])/.exec(s);
    if (!m) return s.length > 8 ? 1 : 0;
    const [all, num, fin] = m as unknown as [string, string, string];
    if (fin === 'A') this.historyStep(-1);
    else if (fin === 'B') this.historyStep(1);
    else {
      if (fin === 'C') this.cursor = Math.min(this.line.length, this.cursor + 1);
      else if (fin === 'D') this.cursor = Math.max(0, this.cursor - 1);
      else if (fin === 'H' || (fin === '~' && (num === '1' || num === '7'))) this.cursor = 0;
      else if (fin === 'F' || (fin === '~' && (num === '4' || num === '8'))) this.cursor = this.line.length;
      else if (fin === '~' && num === '3') this.line = this.line.slice(0, this.cursor) + this.line.slice(this.cursor + 1);
      this.redraw();
    }
    return all.length;
  }

  private historyStep(dir: -1 | 1): void {
    const next = this.browse + dir;
    if (next < 0 || next > this.history.length) return;
    if (this.browse === this.history.length) this.draft = this.line;
    this.browse = next;
    this.setLine(next === this.history.length ? this.draft : this.history[next]!);
    this.redraw();
  }

  private tab(): void {
    const before = this.line.slice(0, this.cursor);
    const { prefix, candidates } = this.deps.complete(before);
    if (candidates.length === 0) return;
    const common = commonPrefix(candidates);
    let insert = common.slice(prefix.length);
    if (candidates.length === 1) insert += ' ';
    if (insert !== '') {
      this.line = before + insert + this.line.slice(this.cursor);
      this.cursor += insert.length;
      this.redraw();
      return;
    }
    this.io.write(`\r\n${candidates.join('  ')}\r\n`);
    this.redraw();
  }

  private enter(): void {
    const line = this.line;
    this.io.write('\r\n');
    this.setLine('');
    const trimmed = line.trim();
    if (trimmed !== '' && this.history[this.history.length - 1] !== trimmed) {
      this.history.push(trimmed);
      if (this.history.length > HISTORY_MAX) this.history.shift();
    }
    this.browse = this.history.length;
    if (trimmed === 'exit' || trimmed === 'quit') return this.exit();
    if (trimmed === '') return void this.io.write(this.deps.prompt);
    const controller = new AbortController();
    this.running = controller;
    void this.deps.run(trimmed, controller.signal).finally(() => {
      this.running = undefined;
      if (this.closed) return;
      this.io.write(this.deps.prompt);
    });
  }

  private exit(): void {
    this.closed = true;
    this.io.write('bye\r\n');
    this.io.end(0);
  }

  private setLine(text: string): void {
    this.line = text;
    this.cursor = text.length;
  }

  private redraw(): void {
    const back = this.line.length - this.cursor;
    this.io.write(`\r${this.deps.prompt}${this.line}\x1b[K${back > 0 ? `\x1b[${back}D` : ''}`);
  }
}

function commonPrefix(words: string[]): string {
  let p = words[0] ?? '';
  for (const w of words) while (!w.startsWith(p)) p = p.slice(0, -1);
  return p;
}
