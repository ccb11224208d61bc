//! ferrokat: a kcat-style command-line producer, consumer and metadata lister on ferrokafka.
//!
//! `ferrokat -h` lists the flags. Exit status: 0 on success, 1 on any error (a bad flag or
//! property, a broker error, a message not delivered), with the error on stderr.

mod args;
mod consume;
mod format;
mod metadata;
mod produce;

use std::fmt;
use std::io::{IsTerminal, Write};

use clap::Parser;

use args::{Args, Mode};

/// Why the run failed: what the user reads on stderr.
#[derive(Debug)]
pub struct Fail(String);

impl Fail {
    pub fn new(message: impl Into<String>) -> Fail {
        Fail(message.into())
    }

    /// A command-line mistake.
    pub fn usage(message: impl Into<String>) -> Fail {
        Fail(message.into())
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ferrokafka::Error> for Fail {
    fn from(e: ferrokafka::Error) -> Fail {
        Fail(e.to_string())
    }
}

impl From<ferrokafka::ConfigError> for Fail {
    fn from(e: ferrokafka::ConfigError) -> Fail {
        Fail(e.to_string())
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        Fail(e.to_string())
    }
}

async fn run(args: Args) -> Result<(), Fail> {
    match args.mode(std::io::stdin().is_terminal())? {
        Mode::Produce => produce::run(&args).await,
        Mode::Consume => consume::run_simple(&args).await,
        Mode::Group => {
            let group = args.group.clone().unwrap_or_default();
            consume::run_group(&args, &group).await
        }
        Mode::List => metadata::run(&args).await,
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let code = match run(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("% ERROR: {e}");
            1
        }
    };
    // Exits here rather than by dropping the runtime: a stdin read still blocked on an open
    // pipe (after Ctrl-C) would hold the runtime's shutdown until the next input line.
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
