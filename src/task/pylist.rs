//! The `classes` column: a Python list literal of strings, as pandas writes it
//! (`[' yes', " don't"]`), or a JSON array (which is also a valid Python literal).

/// Parses a Python-literal (or JSON) list of string literals.
///
/// Accepts single- and double-quoted strings with Python's escapes (`\\ \' \" \n \t \r \0
/// \xhh \uhhhh \Uhhhhhhhh`), adjacent-literal concatenation is not accepted, and a trailing
/// comma is. Returns a message describing the first problem.
pub fn parse_class_list(text: &str) -> Result<Vec<String>, String> {
    let mut p = Parser { chars: text.char_indices().peekable(), text };
    p.skip_ws();
    let close = match p.next() {
        Some((_, '[')) => ']',
        Some((_, '(')) => ')',
        Some((i, c)) => return Err(format!("expected a list like [' yes', ' no'] but found `{c}` at character {}", i + 1)),
        None => return Err("expected a list like [' yes', ' no'] but the cell is empty".into()),
    };
    let mut items = Vec::new();
    loop {
        p.skip_ws();
        match p.peek() {
            Some(c) if c == close => {
                p.next();
                break;
            }
            Some('\'') | Some('"') => items.push(p.string()?),
            Some(c) => return Err(format!("expected a quoted string in the list but found `{c}` at character {}", p.pos() + 1)),
            None => return Err(format!("the list is not closed with `{close}`")),
        }
        p.skip_ws();
        match p.next() {
            Some((_, ',')) => continue,
            Some((_, c)) if c == close => break,
            Some((i, c)) => return Err(format!("expected `,` or `{close}` but found `{c}` at character {}", i + 1)),
            None => return Err(format!("the list is not closed with `{close}`")),
        }
    }
    p.skip_ws();
    if let Some((i, c)) = p.next() {
        return Err(format!("unexpected `{c}` after the end of the list at character {}", i + 1));
    }
    Ok(items)
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<(usize, char)> {
        self.chars.next()
    }
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }
    fn pos(&mut self) -> usize {
        self.chars.peek().map_or(self.text.len(), |&(i, _)| i)
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.next();
        }
    }

    /// Reads one quoted string literal; the cursor is on the opening quote.
    fn string(&mut self) -> Result<String, String> {
        let (start, quote) = self.next().expect("caller saw a quote");
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(format!("the string starting at character {} is not closed", start + 1)),
                Some((_, c)) if c == quote => return Ok(out),
                Some((_, '\\')) => self.escape(&mut out)?,
                Some((_, c)) => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), String> {
        let (i, c) = self.next().ok_or("the list ends inside an escape sequence")?;
        match c {
            '\\' | '\'' | '"' => out.push(c),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\n' => {} // a backslash-newline continues the literal
            'x' => out.push(self.hex_char(2, i)?),
            'u' => out.push(self.hex_char(4, i)?),
            'U' => out.push(self.hex_char(8, i)?),
            // Python keeps unknown escapes verbatim.
            other => {
                out.push('\\');
                out.push(other);
            }
        }
        Ok(())
    }

    fn hex_char(&mut self, digits: usize, at: usize) -> Result<char, String> {
        let mut value = 0u32;
        for _ in 0..digits {
            let d = self
                .next()
                .and_then(|(_, c)| c.to_digit(16))
                .ok_or_else(|| format!("bad escape sequence at character {at}: expected {digits} hex digits"))?;
            value = value * 16 + d;
        }
        char::from_u32(value).ok_or_else(|| format!("escape at character {at} is not a valid character"))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_class_list;

    #[test]
    fn pandas_style_lists() {
        assert_eq!(parse_class_list("[' yes', ' no']").unwrap(), vec![" yes", " no"]);
        assert_eq!(parse_class_list(r#"[" don't", ' do', ' a\'b', ' \u00e9\n']"#).unwrap(), vec![" don't", " do", " a'b", " é\n"]);
        assert_eq!(parse_class_list(r#"[" x", " y",]"#).unwrap(), vec![" x", " y"]);
        assert_eq!(parse_class_list("(' a', ' b')").unwrap(), vec![" a", " b"]);
        assert_eq!(parse_class_list("[]").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn malformed_lists_say_why() {
        assert!(parse_class_list(" yes, no").unwrap_err().contains("expected a list"));
        assert!(parse_class_list("[' yes', ' no'").unwrap_err().contains("not closed"));
        assert!(parse_class_list("[' yes' ' no']").unwrap_err().contains("expected `,`"));
        assert!(parse_class_list("[yes, no]").unwrap_err().contains("quoted string"));
        assert!(parse_class_list("[' yes").unwrap_err().contains("not closed"));
        assert!(parse_class_list("[' a'] extra").unwrap_err().contains("after the end"));
        assert!(parse_class_list(r"['\x4']").unwrap_err().contains("hex digits"));
    }
}
