//! Java's JAAS configuration syntax, as `sasl.jaas.config` takes it:
//! `LoginModuleClass flag key=value ... ;`, exactly one login module.
//!
//! Values are double- or single-quoted strings (with `\` escapes, as Java's StreamTokenizer
//! reads them) or bare words. Error messages never quote values: they hold passwords.

use std::collections::BTreeMap;

/// One login module entry.
#[derive(Debug)]
pub(crate) struct LoginModule {
    pub class: String,
    pub options: BTreeMap<String, String>,
}

const FLAGS: &[&str] = &["required", "requisite", "sufficient", "optional"];

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            out.push(Token::Equals);
        } else if c == ';' {
            chars.next();
            out.push(Token::Semicolon);
        } else if c == '"' || c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err("a quoted value is not closed".to_owned()),
                    Some(q) if q == c => break,
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some(other) => s.push(other),
                        None => return Err("a quoted value ends with `\\`".to_owned()),
                    },
                    Some(other) => s.push(other),
                }
            }
            out.push(Token::Quoted(s));
        } else {
            let mut s = String::new();
            while let Some(&w) = chars.peek() {
                if w.is_whitespace() || matches!(w, '=' | ';' | '"' | '\'') {
                    break;
                }
                s.push(w);
                chars.next();
            }
            out.push(Token::Word(s));
        }
    }
    Ok(out)
}

/// Parses a `sasl.jaas.config` value holding exactly one login module.
pub(crate) fn parse(text: &str) -> Result<LoginModule, String> {
    let mut it = tokens(text)?.into_iter();
    let class = match it.next() {
        Some(Token::Word(w)) => w,
        _ => return Err("expected a login module class name first".to_owned()),
    };
    match it.next() {
        Some(Token::Word(f)) if FLAGS.iter().any(|x| x.eq_ignore_ascii_case(&f)) => {}
        _ => {
            return Err(format!(
                "expected a control flag (required, requisite, sufficient or optional) after \
                 {class}"
            ));
        }
    }
    let mut options = BTreeMap::new();
    loop {
        let key = match it.next() {
            Some(Token::Semicolon) => break,
            Some(Token::Word(k)) => k,
            None => return Err("missing `;` at the end".to_owned()),
            Some(_) => return Err("expected an option name".to_owned()),
        };
        if it.next() != Some(Token::Equals) {
            return Err(format!("expected `=` after option `{key}`"));
        }
        let value = match it.next() {
            Some(Token::Word(v) | Token::Quoted(v)) => v,
            _ => return Err(format!("option `{key}` has no value")),
        };
        if options.insert(key.clone(), value).is_some() {
            return Err(format!("option `{key}` is given twice"));
        }
    }
    if it.next().is_some() {
        return Err("holds more than one login module; give exactly one".to_owned());
    }
    Ok(LoginModule { class, options })
}

/// `value` as a double-quoted JAAS string.
pub(crate) fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_scram_modules() {
        let m = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"alice\" password=\"a \\\"b\\\" c;=\";",
        )
        .unwrap();
        assert_eq!(
            m.class,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(m.options["username"], "alice");
        assert_eq!(m.options["password"], "a \"b\" c;=");
        let m = parse("X REQUIRED username=bob password='p w' tokenauth=false ;").unwrap();
        assert_eq!(m.options["username"], "bob");
        assert_eq!(m.options["password"], "p w");
        assert_eq!(m.options["tokenauth"], "false");
    }

    #[test]
    fn malformed_configs_never_quote_values() {
        for (bad, why) in [
            ("", "class name"),
            ("X username=\"s3cr3t\";", "control flag"),
            ("X required password=\"s3cr3t\"", "missing `;`"),
            ("X required password \"s3cr3t\";", "expected `=`"),
            ("X required password=;", "has no value"),
            ("X required password=\"s3cr3t;", "not closed"),
            ("X required a=1 a=2;", "twice"),
            ("X required a=1; Y required b=\"s3cr3t\";", "more than one"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("s3cr3t"), "{bad}: {e}");
        }
    }

    #[test]
    fn quote_round_trips() {
        for v in [
            "plain",
            "with \"quotes\" and \\ and ;",
            "tab\tnew\nline",
            "",
        ] {
            let m = parse(&format!("X required v={};", quote(v))).unwrap();
            assert_eq!(m.options["v"], v);
        }
    }
}
