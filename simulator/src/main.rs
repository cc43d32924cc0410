//! `metal-sim`: the simulation-first bare-metal testbed.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "metal-sim", version, about = "Simulated bare-metal fleet: fake BMCs, mock Ironic, fake agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
