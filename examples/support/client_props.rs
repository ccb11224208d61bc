//! `-X key=value` (repeatable, as kcat's flag) and `--config FILE` (a Java `.properties` file)
//! for the examples: any client property, e.g. the `security.protocol`, `ssl.*` and `sasl.*`
//! settings of a secured cluster. `-X` wins over the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ferrokafka::config::{Client, lookup};

#[derive(clap::Args, Debug, Default)]
pub struct ClientProps {
    /// A client property KEY=VALUE (repeatable), e.g. -X security.protocol=SASL_SSL
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = key_value)]
    props: Vec<(String, String)>,
    /// A Java .properties file of client properties (-X wins over it)
    #[arg(long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
}

fn key_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{arg}` is not KEY=VALUE")),
    }
}

impl ClientProps {
    /// Every property given, the file's first, then `-X`.
    ///
    /// Errors: the file cannot be read or is not a `.properties` file (naming it).
    pub fn all(&self) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        if let Some(path) = &self.config {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("--config {}: {e}", path.display()))?;
            let props = java_properties::read(std::io::BufReader::new(file))
                .map_err(|e| format!("--config {}: {e}", path.display()))?;
            out.extend(props);
        }
        out.extend(self.props.iter().cloned());
        Ok(out)
    }

    /// The properties for `client`: those it accepts, and those no client accepts (so that its
    /// config's build names the bad key); another client's own keys are left out.
    pub fn for_client(&self, client: Client) -> Result<Vec<(String, String)>, String> {
        let all = [Client::Producer, Client::Consumer, Client::Admin];
        Ok(self
            .all()?
            .into_iter()
            .filter(|(k, _)| {
                lookup(client, k).is_some() || all.iter().all(|c| lookup(*c, k).is_none())
            })
            .collect())
    }
}
