//! Who may do what, decided in one place. Until the permissions issue's policy
//! engine replaces it, the rule is a function of the caller's role assignments;
//! no endpoint has a rule of its own.

use super::Role;

/// The role with every permission; granted at confirmation to the addresses a
/// deployment names (`AdminEmails`) and, later, by the roles API.
pub const ADMIN_ROLE: &str = "admin";

/// What a caller asks to do to users other than themself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read another user's profile.
    ReadUsers,
    /// Disable or enable another user's account.
    ManageUsers,
}

/// Whether a caller holding `roles` may do `permission`.
pub fn allows(roles: &[Role], permission: Permission) -> bool {
    let admin = roles.iter().any(|r| r.as_str() == ADMIN_ROLE);
    match permission {
        Permission::ReadUsers | Permission::ManageUsers => admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<Role> {
        names.iter().map(|n| Role::parse(n).unwrap()).collect()
    }

    #[test]
    fn only_admins_read_or_manage_other_users() {
        for permission in [Permission::ReadUsers, Permission::ManageUsers] {
            assert!(allows(&roles(&["user", "admin"]), permission));
            assert!(!allows(&roles(&["user"]), permission));
            assert!(!allows(&roles(&[]), permission));
        }
    }
}
