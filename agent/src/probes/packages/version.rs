//! Debian version ordering (`dpkg --compare-versions`): the one comparator
//! lives in `evident_core::vuln::version::deb` (also used by vulnerability
//! matching); pending updates use its lenient form, which never fails on an
//! unreadable version in an apt list.

pub use evident_core::vuln::version::deb::compare_lenient as compare_versions;
