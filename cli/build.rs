//! `include_dir!` embeds the templates and contracts, but cargo only notices edits to files it
//! already knew of; watching the folders makes an added file rebuild the binary too.

fn main() {
    println!("cargo:rerun-if-changed=../templates");
    println!("cargo:rerun-if-changed=src/protos/include");
}
