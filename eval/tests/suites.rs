//! The invariant suites, mounted once per provider.
#![allow(clippy::panic, reason = "a failing suite fails its test by panicking")]

captoken_eval::mount_suites!(hmac, captoken_eval::candidate::Hmac);
captoken_eval::mount_suites!(macaroon, captoken_eval::candidate::Macaroon);
captoken_eval::mount_suites!(paseto_public, captoken_eval::candidate::PasetoPublic);
captoken_eval::mount_suites!(paseto_local, captoken_eval::candidate::PasetoLocal);
captoken_eval::mount_suites!(biscuit, captoken_eval::candidate::Biscuit);
