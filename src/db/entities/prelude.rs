pub use super::client::Entity as Client;
pub use super::signing_key::Entity as SigningKey;
pub use super::user::Entity as User;
