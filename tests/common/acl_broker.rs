//! One Apache Kafka node with the StandardAuthorizer: a PLAINTEXT listener whose anonymous
//! principal is a super user (the admin client's), and a SASL_PLAINTEXT (PLAIN) listener for
//! `alice` / [`ALICE_PASSWORD`], who may do only what ACLs allow, and for SCRAM users the
//! admin client creates.

use std::path::PathBuf;
use std::sync::OnceLock;

use super::broker::{Node, free_port, run_folder};

pub const ALICE_PASSWORD: &str = "alice-secret";

pub struct AclBroker {
    pub plaintext: u16,
    pub sasl: u16,
    dir: PathBuf,
    node: Node,
}

impl AclBroker {
    /// The authorizer broker shared by every test in this binary.
    pub fn shared() -> &'static AclBroker {
        static SHARED: OnceLock<AclBroker> = OnceLock::new();
        SHARED.get_or_init(AclBroker::start)
    }

    fn start() -> AclBroker {
        let dir = run_folder("kafka-acl");
        let (plaintext, sasl, cport) = (free_port(), free_port(), free_port());
        let listeners =
            format!("PLAINTEXT://127.0.0.1:{plaintext},SASL_PLAINTEXT://127.0.0.1:{sasl}");
        let props = [
            format!("listeners={listeners},CONTROLLER://127.0.0.1:{cport}"),
            format!("advertised.listeners={listeners}"),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,\
             CONTROLLER:PLAINTEXT"
                .to_string(),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
            // The inter-broker and controller listeners are PLAINTEXT too: ANONYMOUS must be super.
            "super.users=User:ANONYMOUS".into(),
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512".into(),
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=\
             org.apache.kafka.common.security.scram.ScramLoginModule required;"
                .into(),
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=\
             org.apache.kafka.common.security.scram.ScramLoginModule required;"
                .into(),
            format!(
                "listener.name.sasl_plaintext.plain.sasl.jaas.config=\
                 org.apache.kafka.common.security.plain.PlainLoginModule required \
                 user_alice=\"{ALICE_PASSWORD}\";"
            ),
        ];
        let mut args = vec![
            "--node-id".to_string(),
            "1".into(),
            "--port".into(),
            plaintext.to_string(),
            "--controller-port".into(),
            cport.to_string(),
            "--voters".into(),
            format!("1@127.0.0.1:{cport}"),
        ];
        for p in props {
            args.push("--prop".into());
            args.push(p);
        }
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("acl")
            .to_string();
        let mut node = Node::kafka(&dir, &name, args, plaintext);
        if let Err(e) = node.start() {
            node.forget();
            panic!("authorizer test broker did not start: {e}");
        }
        AclBroker {
            plaintext,
            sasl,
            dir,
            node,
        }
    }

    /// The super user's listener.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.plaintext)
    }

    /// alice's listener.
    pub fn sasl_bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.sasl)
    }
}
