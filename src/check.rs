//! `vigil check rules FILE...` and `vigil check config FILE`: validate
//! Prometheus rule files and an Alertmanager config the way
//! `promtool check rules` and `amtool check-config` do, with their output
//! shapes and `file:line:column` in every error. Each returns whether all
//! files passed (the process exits 1 otherwise).

use std::path::Path;

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn rules(files: &[impl AsRef<Path>]) -> bool {
    let mut ok = true;
    for path in files {
        let path = path.as_ref();
        println!("Checking {}", path.display());
        let outcome = read(path).and_then(|text| {
            alertmanager::rules::parse(&text, &path.display().to_string()).map_err(|errors| {
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        });
        match outcome {
            Ok(file) => {
                let n: usize = file.groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {n} rules found\n");
            }
            Err(e) => {
                ok = false;
                println!("  FAILED:\n{e}\n");
            }
        }
    }
    ok
}

pub fn config(files: &[impl AsRef<Path>]) -> bool {
    let mut ok = true;
    for path in files {
        let path = path.as_ref();
        let outcome = read(path).and_then(|text| {
            alertmanager::config::parse(&text).map_err(|e| format!("{}:{e}", path.display()))
        });
        match outcome {
            Ok(config) => {
                println!("Checking '{}'  SUCCESS", path.display());
                println!("Found:");
                println!(" - global config");
                println!(" - route");
                println!(" - {} inhibit rules", config.inhibit_rules.len());
                println!(" - {} receivers", config.receivers.len());
                println!(" - {} templates", config.templates.len());
                println!();
            }
            Err(e) => {
                ok = false;
                println!("Checking '{}'  FAILED: {e}\n", path.display());
            }
        }
    }
    ok
}
