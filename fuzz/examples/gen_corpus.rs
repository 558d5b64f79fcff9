//! Writes the seed corpus: valid tokens for the fixed fuzz ring, as text
//! (fuzz/corpus/open_text) and as binary (fuzz/corpus/open_binary).
//! Run from fuzz/: `cargo run --example gen_corpus`.

use std::fs;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let text_dir = root.join("open_text");
    let binary_dir = root.join("open_binary");
    for dir in [&text_dir, &binary_dir] {
        fs::create_dir_all(dir).unwrap();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
            {
                fs::remove_file(path).unwrap();
            }
        }
    }
    let tokens = sesame_fuzz::corpus_tokens();
    for (i, token) in tokens.iter().enumerate() {
        // Every seed must open under the fixed ring with some context.
        let ring = sesame_fuzz::fixed_ring();
        assert!(
            sesame_fuzz::CONTEXTS
                .iter()
                .any(|c| ring.open(token, c, &sesame_fuzz::PERMISSIVE, 0).is_ok()),
            "seed {i} does not open"
        );
        fs::write(text_dir.join(format!("seed-{i:03}")), token).unwrap();
        let mut binary = [0u8; sesame::format::BINARY_MAX];
        let bytes = sesame::format::decode_text(token.as_bytes(), &mut binary).unwrap();
        fs::write(binary_dir.join(format!("seed-{i:03}")), bytes).unwrap();
    }
    println!("wrote {} seeds to {}", tokens.len(), root.display());
}
