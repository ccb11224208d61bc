//! `ferrokafka-fuzz-seeds CORPUS_DIR`: writes `CORPUS_DIR/TARGET/NAME` for each seed input.

use std::path::PathBuf;
use std::{env, fs, process};

fn main() {
    let Some(dir) = env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: ferrokafka-fuzz-seeds CORPUS_DIR");
        process::exit(2);
    };
    let mut count = 0;
    for (target, name, bytes) in ferrokafka::fuzzing::seed_corpus() {
        let target_dir = dir.join(target);
        fs::create_dir_all(&target_dir).expect("create corpus directory");
        fs::write(target_dir.join(format!("seed-{name}")), bytes).expect("write seed");
        count += 1;
    }
    println!("wrote {count} seeds under {}", dir.display());
}
