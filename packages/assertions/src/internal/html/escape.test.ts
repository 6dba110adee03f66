import { describe, expect, it } from 'vitest';
import { escapeHtml, jsonForScript } from './escape.js';

describe('escapeHtml', () => {
  it.each([
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    [`a "quoted" 'value' & more`, 'a &quot;quoted&quot; &#39;value&#39; &amp; more'],
    ['plain text 0x7f → pfn 2', 'plain text 0x7f → pfn 2'],
  ])('should escape %s', (input, expected) => {
    expect(escapeHtml(input)).toBe(expected);
  });
});

describe('jsonForScript', () => {
  const nasty = { name: '</script><script>alert(1)</script>', comment: '<!-- x -->', sep: 'a\u2028b\u2029c', amp: 'a&b' };

  it('should contain no character that could end or confuse a script block', () => {
    const s = jsonForScript(nasty);
    expect(s).not.toMatch(/[<>&\u2028\u2029]/);
  });

  it('should parse back to the same data', () => {
    expect(JSON.parse(jsonForScript(nasty))).toEqual(nasty);
  });
});
