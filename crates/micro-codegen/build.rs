//! `include_dir!` embeds the contracts under `src/protos/include`, but cargo only notices edits to
//! files it already knew of; watching the folder makes an added file rebuild the crate too.

fn main() {
    println!("cargo:rerun-if-changed=src/protos/include");
}
