//! noderun library
