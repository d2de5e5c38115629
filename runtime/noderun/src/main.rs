//! `noderun`: the runc-compatible command line over the noderun library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
