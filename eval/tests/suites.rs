//! The invariant suites, mounted once per provider.
#![allow(clippy::panic, reason = "a failing suite fails its test by panicking")]

captoken_eval::mount_suites!(hmac, captoken_eval::candidate::Hmac);
