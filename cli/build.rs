//! `include_dir!` embeds the templates, but cargo only notices edits to files it already knew of;
//! watching the folder makes an added file rebuild the binary too.

fn main() {
    println!("cargo:rerun-if-changed=../templates");
}
