//! `argus-ops`: gains its commands with the issue that builds it (see README).

fn main() {
    eprintln!("argus-ops: this binary has no commands yet in this revision (see README, 'Status')");
    std::process::exit(2);
}
