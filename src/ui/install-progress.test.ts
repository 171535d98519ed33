import { describe, expect, it } from 'vitest';
import { phaseText } from './InstallProgress.tsx';

describe('phaseText', () => {
  it('counts the tuned kernel roles while tuning', () => {
    expect(phaseText({ phase: 'tuning', bytesDone: 0, bytesTotal: 0, step: 5, steps: 11 })).toBe('Tuning for your GPU, 5 of 11');
    expect(phaseText({ phase: 'tuning', bytesDone: 0, bytesTotal: 0 })).toBe('Tuning for your GPU');
    expect(phaseText({ phase: 'uploading', bytesDone: 1, bytesTotal: 2 })).toBe('Uploading weights to the GPU');
  });
});
