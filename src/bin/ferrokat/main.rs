//! ferrokat: a kcat-style command-line producer, consumer and metadata lister.

fn main() {
    eprintln!("% ERROR: not implemented yet");
    std::process::exit(1);
}
