//! Browser-facing HTML: the authorization pages (login, consent), logout, errors.

pub mod account;
pub mod authorize;
pub mod device;
pub mod home;
pub mod logout;
pub mod pages;
pub mod recovery;
pub mod session;
