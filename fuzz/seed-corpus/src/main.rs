//! Writes the seed corpora of captoken's fuzz targets into `fuzz/corpus/<target>/`, or into the directory given as the first argument.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args_os().nth(1).map_or_else(
        || {
            let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).parent();
            fuzz.unwrap_or(Path::new(".")).join("corpus")
        },
        PathBuf::from,
    );
    let seeds = captoken_fuzz::seeds::all();
    for s in &seeds {
        let dir = root.join(s.target);
        let written =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(&s.name), &s.data));
        if let Err(e) = written {
            eprintln!(
                "seed-corpus: cannot write {}/{}: {e}",
                dir.display(),
                s.name
            );
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "seed-corpus: {} seeds written under {}",
        seeds.len(),
        root.display()
    );
    ExitCode::SUCCESS
}
