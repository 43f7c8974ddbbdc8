//! The store contracts (`gatehouse::testing::contract`) against the DynamoDB
//! adapter on the stack's emulator: the same suites the in-memory fakes pass, so
//! a service test over a fake says what the real table does.

use crate::support::*;
use gatehouse::adapters::AwsClients;
use gatehouse::adapters::dynamodb::DynamoTable;
use gatehouse::testing::contract;

async fn table() -> DynamoTable {
    let clients = AwsClients::new(moto_config().await);
    DynamoTable::new(&clients, TABLE.to_owned())
}

#[tokio::test]
async fn the_dynamodb_throttle_windows_keep_the_store_contract() {
    contract::throttle_store(&table().await, "dynamodb")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_dynamodb_session_cutoffs_keep_the_store_contract() {
    contract::session_store(&table().await, "dynamodb")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_dynamodb_profiles_keep_the_store_contract() {
    contract::profile_store(&table().await, "dynamodb")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_dynamodb_policies_keep_the_store_contract() {
    let table = table().await;
    contract::policy_store(&table, &table, "dynamodb")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_dynamodb_delivery_ledger_keeps_the_store_contract() {
    contract::delivery_ledger(&table().await, "dynamodb")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_dynamodb_notifications_keep_the_store_contract() {
    let table = table().await;
    contract::notification_store(&table, &table, &table, "dynamodb")
        .await
        .unwrap();
}
