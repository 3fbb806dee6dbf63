//! The facts the `firewall` probe reports, one struct per firewall.

use serde::Serialize;

/// Everything the probe reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FirewallFacts {
    /// Active firewall.
    pub active_firewall: String,
    /// A firewall is active.
    pub enabled: bool,
    /// Default input policy.
    pub default_input_policy: String,
    /// Default forward policy.
    pub default_forward_policy: String,
    /// nftables.
    pub nftables: NftFacts,
    /// iptables.
    pub iptables: IptablesFacts,
    /// ufw.
    pub ufw: UfwFacts,
    /// firewalld.
    pub firewalld: FirewalldFacts,
    /// Live state read.
    pub runtime_collected: bool,
    /// Loaded iptables tables.
    pub runtime_iptables_tables: Vec<String>,
    /// Loaded ip6tables tables.
    pub runtime_ip6tables_tables: Vec<String>,
    /// Unreadable files.
    pub unreadable: Vec<String>,
}

/// nftables facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NftFacts {
    /// Installed (dpkg, the `nft` binary, or with no package database its config).
    pub installed: bool,
    /// What decided `installed`: package | binary | config | absent.
    pub installed_by: String,
    /// Unit enabled.
    pub enabled: bool,
    /// Config file.
    pub config_file: String,
    /// Included files.
    pub included_files: Vec<String>,
    /// Input policy.
    pub input_policy: String,
    /// Forward policy.
    pub forward_policy: String,
    /// Output policy.
    pub output_policy: String,
    /// Chains.
    pub chains: u64,
    /// Rules.
    pub rules_count: u64,
}

/// iptables facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IptablesFacts {
    /// v4 rules file exists.
    pub rules_present: bool,
    /// Unit enabled.
    pub enabled: bool,
    /// v4 rules file.
    pub config_file: String,
    /// INPUT.
    pub input_policy: String,
    /// FORWARD.
    pub forward_policy: String,
    /// OUTPUT.
    pub output_policy: String,
    /// -A rules in filter.
    pub rules_count: u64,
    /// v6 rules file exists.
    pub ipv6_rules_present: bool,
    /// v6 INPUT.
    pub ipv6_input_policy: String,
}

/// ufw facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UfwFacts {
    /// ufw.conf exists.
    pub installed: bool,
    /// ENABLED=yes.
    pub enabled: bool,
    /// ufw.service enabled.
    pub service_enabled: bool,
    /// DEFAULT_INPUT_POLICY.
    pub default_input_policy: String,
    /// DEFAULT_FORWARD_POLICY.
    pub default_forward_policy: String,
    /// DEFAULT_OUTPUT_POLICY.
    pub default_output_policy: String,
    /// User rules.
    pub user_rules_count: u64,
}

/// firewalld facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FirewalldFacts {
    /// Installed.
    pub installed: bool,
    /// Unit enabled.
    pub enabled: bool,
    /// DefaultZone.
    pub default_zone: String,
    /// Zone file.
    pub zone_file: String,
    /// Zone target.
    pub zone_target: String,
    /// Services.
    pub services: Vec<String>,
    /// Ports.
    pub ports: Vec<String>,
}
