//! `safeguard-sim`: run Byzantine-resilient SGD scenarios and plot them (see [`safeguard_sim::cli`]).

fn main() -> std::process::ExitCode {
    safeguard_sim::cli::main_with(safeguard_sim::registry::Registry::builtin())
}
