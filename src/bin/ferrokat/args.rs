//! The command line, in kcat's single-letter flags.

use clap::Parser;

use crate::Fail;

const AFTER_HELP: &str = "\
Format string tokens (-f):
  %s  payload            %S  payload length (-1 for null)
  %R  payload length as a big-endian 32-bit signed integer (binary)
  %k  key                %K  key length (-1 for null)
  %t  topic              %p  partition         %o  offset
  %T  timestamp (ms since the epoch, UTC)      %h  headers (n=v, comma separated)
  %%  a percent sign     \\n \\r \\t \\xNN  escapes (also in -D and -K)
  Example: -f 'Topic %t [%p] at offset %o: key %k: %s\\n'

JSON envelope (-J), one object a line, as kcat writes it:
  {\"topic\": str, \"partition\": int, \"offset\": int, \"tstype\": \"create|logappend\",
   \"ts\": int, \"broker\": -1, \"headers\": [name, value, ...] (only when there are any),
   \"key\": str|null, \"payload\": str|null}
  (\"broker\" is always -1: the record does not say which broker served it.)

Examples:
  ferrokat -b localhost:9092 -L
  printf 'k1:v1\\nk2:v2\\n' | ferrokat -b localhost:9092 -P -t orders -K: -H source=cli
  ferrokat -b localhost:9092 -C -t orders -o -10 -e -J
  ferrokat -b localhost:9092 -G mygroup orders payments

kcat flags not implemented: -Q (query), -M (mock cluster), -F (config file), -s/-r
(deserializers, schema registry), -l and file arguments (produce from files), -T (tee), -O,
-E, -d, -m, -v, -X list|dump, -o e@TS (stop timestamp), regex topics with -G.
-X properties go through ferrokafka's config builders (Java client property names): an
unknown or misspelt property is an error that names it.";

/// A kcat-style Apache Kafka producer, consumer and metadata lister built on ferrokafka.
///
/// Mode: -P produce (stdin to a topic), -C consume (a topic to stdout), -G group consume,
/// -L metadata listing; without one, consume when stdin is a terminal, else produce (as
/// kcat does).
#[derive(Parser, Debug, Default)]
#[command(name = "ferrokat", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Producer mode: each message read from stdin (split on -D) is sent to -t.
    #[arg(short = 'P')]
    pub produce: bool,
    /// Consumer mode: reads -t (every partition, or -p) and writes the messages to stdout.
    #[arg(short = 'C')]
    pub consume: bool,
    /// Balanced group consumer mode with this group id; topics are the positional arguments.
    #[arg(short = 'G', value_name = "group-id")]
    pub group: Option<String>,
    /// Metadata listing: brokers, topics and partitions (of -t only when given).
    #[arg(short = 'L')]
    pub list: bool,
    /// Bootstrap broker(s), host:port comma separated (bootstrap.servers).
    #[arg(short = 'b', value_name = "brokers")]
    pub brokers: Option<String>,
    /// Topic to produce to, consume from or list.
    #[arg(short = 't', value_name = "topic")]
    pub topic: Option<String>,
    /// Partition (produce: -1 or absent lets the partitioner choose; consume: only this one).
    #[arg(short = 'p', value_name = "partition", allow_hyphen_values = true)]
    pub partition: Option<i32>,
    /// A client property, key=value (repeatable); an unknown key is an error.
    #[arg(short = 'X', value_name = "prop=val")]
    pub props: Vec<String>,
    /// Where to start: beginning | end | stored | <offset> | -<n> (n from the end) |
    /// s@<timestamp ms>. Default: beginning (-C), the committed offsets (-G).
    // The doc comment is clap's help text, written in kcat's `<placeholder>` notation, not
    // HTML.
    #[cfg_attr(doc, allow(rustdoc::invalid_html_tags))]
    #[arg(short = 'o', value_name = "offset", allow_hyphen_values = true)]
    pub offset: Option<String>,
    /// Exit successfully once the end of every assigned partition is reached.
    #[arg(short = 'e')]
    pub exit_eof: bool,
    /// Stop after this many messages (produced or consumed).
    #[arg(short = 'c', value_name = "cnt")]
    pub count: Option<u64>,
    /// Key delimiter: produce splits each message at its first occurrence into key and value;
    /// consume prints the key and this delimiter before the payload.
    #[arg(short = 'K', value_name = "delim")]
    pub key_delim: Option<String>,
    /// Message delimiter (input for -P, output for -C/-G). Default: \n.
    #[arg(short = 'D', value_name = "delim")]
    pub delim: Option<String>,
    /// A header on every produced message: name=value, or name alone for a null value.
    #[arg(short = 'H', value_name = "header=value")]
    pub headers: Vec<String>,
    /// A fixed key for every produced message (a key split off by -K takes precedence).
    #[arg(short = 'k', value_name = "key")]
    pub fixed_key: Option<String>,
    /// Compression codec of produced batches: none, gzip, snappy, lz4, zstd.
    #[arg(short = 'z', value_name = "codec")]
    pub compression: Option<String>,
    /// Output format string (see below); takes precedence over -D and -K.
    #[arg(short = 'f', value_name = "fmt")]
    pub format: Option<String>,
    /// JSON envelope output (see below); with -L, the metadata as JSON.
    #[arg(short = 'J')]
    pub json: bool,
    /// Produce: an empty key or value is sent as null. Consume: print null (and empty) keys
    /// and payloads as NULL.
    #[arg(short = 'Z')]
    pub null: bool,
    /// Quiet: no informational messages on stderr.
    #[arg(short = 'q')]
    pub quiet: bool,
    /// Unbuffered output: flush stdout after every message.
    #[arg(short = 'u')]
    pub unbuffered: bool,
    /// Topics of a group consumer (-G).
    #[arg(value_name = "topic")]
    pub topics: Vec<String>,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Produce,
    Consume,
    Group,
    List,
}

impl Args {
    /// The one mode the flags ask for.
    pub fn mode(&self, stdin_is_terminal: bool) -> Result<Mode, Fail> {
        let chosen: Vec<Mode> = [
            (self.produce, Mode::Produce),
            (self.consume, Mode::Consume),
            (self.group.is_some(), Mode::Group),
            (self.list, Mode::List),
        ]
        .into_iter()
        .filter_map(|(on, m)| on.then_some(m))
        .collect();
        match chosen.as_slice() {
            [] if stdin_is_terminal => Ok(Mode::Consume),
            [] => Ok(Mode::Produce),
            [m] => Ok(*m),
            _ => Err(Fail::usage("only one of -P, -C, -G and -L may be given")),
        }
    }

    /// The -X properties as pairs, in order (a later one wins).
    pub fn properties(&self) -> Result<Vec<(String, String)>, Fail> {
        self.props
            .iter()
            .map(|p| match p.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(Fail::usage(format!(
                    "-X {p}: expected property=value (e.g. -X acks=all)"
                ))),
            })
            .collect()
    }

    /// -t, required by produce and consume.
    pub fn topic(&self) -> Result<&str, Fail> {
        self.topic
            .as_deref()
            .ok_or_else(|| Fail::usage("this mode needs a topic: -t <topic>"))
    }

    /// The message delimiter, \n unless -D.
    pub fn message_delimiter(&self) -> Result<Vec<u8>, Fail> {
        let d = unescape(self.delim.as_deref().unwrap_or("\\n"));
        if d.is_empty() {
            return Err(Fail::usage("-D: the delimiter must not be empty"));
        }
        Ok(d)
    }

    /// The key delimiter of -K, if given (never empty).
    pub fn key_delimiter(&self) -> Result<Option<Vec<u8>>, Fail> {
        match self.key_delim.as_deref().map(unescape) {
            Some(d) if d.is_empty() => Err(Fail::usage("-K: the delimiter must not be empty")),
            d => Ok(d),
        }
    }

    /// The -o offset, if given.
    pub fn start(&self) -> Result<Option<Start>, Fail> {
        self.offset.as_deref().map(Start::parse).transpose()
    }
}

/// Where consumption starts (-o).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    End,
    /// The group's committed offset.
    Stored,
    Absolute(i64),
    /// This many records before the end (never before the beginning).
    FromEnd(i64),
    /// The first record whose timestamp (ms) is at least this one.
    Timestamp(i64),
}

impl Start {
    fn parse(s: &str) -> Result<Start, Fail> {
        let bad = || {
            Fail::usage(format!(
                "-o {s}: expected beginning, end, stored, <offset>, -<count> or s@<timestamp ms>"
            ))
        };
        Ok(match s {
            "beginning" => Start::Beginning,
            "end" => Start::End,
            "stored" => Start::Stored,
            _ => {
                if let Some(ts) = s.strip_prefix("s@") {
                    Start::Timestamp(ts.parse().map_err(|_| bad())?)
                } else if s.starts_with("e@") {
                    return Err(Fail::usage(format!(
                        "-o {s}: stop timestamps (e@) are not implemented"
                    )));
                } else {
                    match s.parse::<i64>().map_err(|_| bad())? {
                        n if n < 0 => Start::FromEnd(n.checked_neg().ok_or_else(bad)?),
                        n => Start::Absolute(n),
                    }
                }
            }
        })
    }
}

/// kcat's escapes in delimiters and format strings: \n \r \t, \xNN (hex), and \c for any other
/// character c (so \\ is a backslash).
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        match b[i] {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'x' => {
                let digits = b[i + 1..]
                    .iter()
                    .take(2)
                    .take_while(|c| c.is_ascii_hexdigit())
                    .count();
                if digits == 0 {
                    out.push(b'x');
                } else {
                    let hex = &s[i + 1..i + 1 + digits];
                    // At most two hex digits: always fits a byte.
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                    i += digits;
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_kcat_reads_them() {
        assert_eq!(unescape("a\\tb\\nc\\r"), b"a\tb\nc\r");
        assert_eq!(unescape("\\x21\\x7e\\x4"), b"!~\x04");
        assert_eq!(unescape("\\\\;\\q"), b"\\;q");
        assert_eq!(unescape("end\\"), b"end\\");
        assert_eq!(unescape("\\xzz"), b"xzz");
    }

    #[test]
    fn offsets_parse_as_kcat_documents() {
        let p = |s: &str| Start::parse(s).map_err(|e| e.to_string());
        assert_eq!(p("beginning"), Ok(Start::Beginning));
        assert_eq!(p("end"), Ok(Start::End));
        assert_eq!(p("stored"), Ok(Start::Stored));
        assert_eq!(p("42"), Ok(Start::Absolute(42)));
        assert_eq!(p("-2"), Ok(Start::FromEnd(2)));
        assert_eq!(
            p("s@1700000000000"),
            Ok(Start::Timestamp(1_700_000_000_000))
        );
        assert!(p("e@5").is_err());
        assert!(p("soon").is_err());
        assert!(p("s@x").is_err());
    }

    #[test]
    fn one_mode_at_most() {
        let a = Args::try_parse_from(["ferrokat", "-P", "-C"]).expect("parse");
        assert!(a.mode(false).is_err());
        let a = Args::try_parse_from(["ferrokat", "-G", "g", "t1", "t2"]).expect("parse");
        assert_eq!(a.mode(true).ok(), Some(Mode::Group));
        assert_eq!(a.topics, ["t1", "t2"]);
        let a = Args::try_parse_from(["ferrokat"]).expect("parse");
        assert_eq!(a.mode(true).ok(), Some(Mode::Consume));
        assert_eq!(a.mode(false).ok(), Some(Mode::Produce));
        let a = Args::try_parse_from(["ferrokat", "-o", "-5", "-p", "-1"]).expect("parse");
        assert_eq!(a.offset.as_deref(), Some("-5"));
        assert_eq!(a.partition, Some(-1));
    }
}
