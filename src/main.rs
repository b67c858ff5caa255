fn main() {
    std::process::exit(stoke::cli::main());
}
