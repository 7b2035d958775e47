//! Find the line:column of a field path in a JSON text, so that every error names both.
//!
//! serde tells us *which* field is wrong (a path like `aggregator.threshold.long`); this module
//! walks the original text to say *where* it is. The text has already been parsed once, so it is
//! valid JSON; any surprise simply yields `None`.

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Split `a.b[2].c` into segments. Empty input gives the root.
pub fn parse_path(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            let key = &rest[..i];
            if !key.is_empty() {
                out.push(Segment::Key(key.to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                match stripped.find(']') {
                    Some(j) => {
                        if let Ok(n) = stripped[..j].parse() {
                            out.push(Segment::Index(n));
                        }
                        rest = &stripped[j + 1..];
                    }
                    None => break,
                }
            }
        } else {
            out.push(Segment::Key(rest.to_string()));
        }
    }
    out
}

/// Line and column (1-based, columns in characters) of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// serde_json counts columns in bytes; turn its 1-based byte column on 1-based `line` into the
/// 1-based character column [`line_col`] uses (the character holding that byte).
pub fn char_column(text: &str, line: usize, byte_column: usize) -> usize {
    let Some(l) = text.split('\n').nth(line.saturating_sub(1)) else {
        return byte_column.max(1);
    };
    if byte_column > l.len() {
        // Past the end of the line: one past its last character.
        return l.chars().count() + 1;
    }
    l.as_bytes()[..byte_column]
        .iter()
        .filter(|b| (**b & 0xC0) != 0x80)
        .count()
        .max(1)
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// Parse a string starting at `"`, returning its decoded content.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    let raw = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                    return serde_json::from_str(raw).ok();
                }
                _ => self.i += 1,
            }
        }
        None
    }
    /// Skip one value.
    fn skip(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while self.i < self.b.len() {
                    match self.b[self.i] {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                None
            }
            _ => {
                while self.i < self.b.len()
                    && !matches!(
                        self.b[self.i],
                        b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'
                    )
                {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
    /// Position of the value at `path` from the current position; `key_of_last` returns the
    /// position of the last key instead of its value.
    fn find(&mut self, path: &[Segment], key_of_last: bool) -> Option<usize> {
        self.ws();
        let Some((first, rest)) = path.split_first() else {
            return Some(self.i);
        };
        match (first, self.peek()?) {
            (Segment::Key(k), b'{') => {
                self.i += 1;
                loop {
                    self.ws();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let key_pos = self.i;
                    let key = self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    if &key == k {
                        if rest.is_empty() && key_of_last {
                            return Some(key_pos);
                        }
                        return self.find(rest, key_of_last);
                    }
                    self.skip()?;
                    self.ws();
                    if self.peek()? == b',' {
                        self.i += 1;
                    }
                }
            }
            (Segment::Index(n), b'[') => {
                self.i += 1;
                for _ in 0..*n {
                    self.skip()?;
                    self.ws();
                    if self.peek()? != b',' {
                        return None;
                    }
                    self.i += 1;
                }
                self.find(rest, key_of_last)
            }
            _ => None,
        }
    }
}

/// Byte offset of occurrence `n` (0-based) of the key `key` in the object at `parent` (for a key
/// given twice); falls back to [`locate`] of the key.
pub fn locate_key(text: &str, parent: &[Segment], key: &str, n: usize) -> usize {
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
    };
    if s.find(parent, false).is_some() && s.peek() == Some(b'{') {
        s.i += 1;
        let mut seen = 0;
        loop {
            s.ws();
            if s.peek() != Some(b'"') {
                break;
            }
            let key_pos = s.i;
            let Some(k) = s.string() else { break };
            if k == key {
                if seen == n {
                    return key_pos;
                }
                seen += 1;
            }
            s.ws();
            if s.peek() != Some(b':') {
                break;
            }
            s.i += 1;
            if s.skip().is_none() {
                break;
            }
            s.ws();
            if s.peek() == Some(b',') {
                s.i += 1;
            }
        }
    }
    let mut path = parent.to_vec();
    path.push(Segment::Key(key.to_string()));
    locate(text, &path, true)
}

/// Byte offset of the value at `path` (or of its key when `key_of_last`), or of the deepest
/// ancestor found.
pub fn locate(text: &str, path: &[Segment], key_of_last: bool) -> usize {
    for n in (0..=path.len()).rev() {
        let mut s = Scanner {
            b: text.as_bytes(),
            i: 0,
        };
        if let Some(p) = s.find(&path[..n], key_of_last && n == path.len()) {
            return p;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_positions() {
        let text = "{\n  \"a\": {\"b\": [1, {\"c\": true}]},\n  \"d\": \"x\"\n}";
        let at = |p: &str, key: bool| line_col(text, locate(text, &parse_path(p), key));
        assert_eq!(
            parse_path("a.b[1].c"),
            vec![
                Segment::Key("a".into()),
                Segment::Key("b".into()),
                Segment::Index(1),
                Segment::Key("c".into())
            ]
        );
        assert_eq!(at("a.b[1].c", false), (2, 24));
        assert_eq!(at("a.b[1].c", true), (2, 19));
        assert_eq!(at("d", false), (3, 8));
        // A missing field points at its parent object.
        assert_eq!(at("a.zzz", false), (2, 8));
        assert_eq!(at("", false), (1, 1));
        // Byte columns (serde_json) to character columns.
        let t = "{\n  \"é\": x\n}";
        assert_eq!(char_column(t, 2, 9), 8);
        assert_eq!(char_column(t, 2, 3), 3);
        assert_eq!(char_column(t, 1, 1), 1);
        assert_eq!(char_column(t, 3, 1), 1);
        // The second of a key given twice.
        let dup = "{\"a\": {\"b\": 1,\n \"b\": 2}}";
        let a = [Segment::Key("a".into())];
        assert_eq!(line_col(dup, locate_key(dup, &a, "b", 1)), (2, 2));
        assert_eq!(line_col(dup, locate_key(dup, &a, "b", 0)), (1, 8));
    }
}
