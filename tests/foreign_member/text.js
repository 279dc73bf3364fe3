// The text rule (docs/protocol.md section 9): at most a bound in code points, and no character
// of the categories Cc, Cf, Cs, Co, Zl, Zp nor a noncharacter.
'use strict';

const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}\u{FDD0}-\u{FDEF}]/u;

function isNoncharacter(codePoint) {
  return (codePoint & 0xfffe) === 0xfffe;   // U+xFFFE and U+xFFFF of every plane.
}

function followsTextRule(text, maxLength) {
  const codePoints = [...(text || '')];
  return codePoints.length <= maxLength && !FORBIDDEN.test(text || '')
    && !codePoints.some((c) => isNoncharacter(c.codePointAt(0)));
}

module.exports = { followsTextRule };
