"""Intacct sandbox customers.

Revision ID: i0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledgerbridge.db import UTCDateTime

revision = "i0001"
down_revision = None
branch_labels = ("intacct",)
depends_on = "s0001"

TABLE = "sandbox_intacct_customers"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("key", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=1000)),
        sa.Column("name", sa.String(length=1000)),
        sa.Column("status", sa.String(length=1000)),
        sa.Column("customer_type_key", sa.String(length=1000)),
        sa.Column("customer_type_id", sa.String(length=1000)),
        sa.Column("parent_key", sa.Integer()),
        sa.Column("sales_representative_key", sa.String(length=1000)),
        sa.Column("sales_representative_id", sa.String(length=1000)),
        sa.Column("tax_id", sa.String(length=1000)),
        sa.Column("default_revenue_glaccount_key", sa.String(length=1000)),
        sa.Column("default_revenue_glaccount_id", sa.String(length=1000)),
        sa.Column("shipping_method_key", sa.String(length=1000)),
        sa.Column("shipping_method_id", sa.String(length=1000)),
        sa.Column("credit_limit", sa.BigInteger()),
        sa.Column("is_on_hold", sa.Boolean()),
        sa.Column("contacts_default_id", sa.String(length=1000)),
        sa.Column("contacts_default_last_name", sa.String(length=1000)),
        sa.Column("contacts_default_first_name", sa.String(length=1000)),
        sa.Column("contacts_default_middle_name", sa.String(length=1000)),
        sa.Column("contacts_default_prefix", sa.String(length=1000)),
        sa.Column("contacts_default_print_as", sa.String(length=1000)),
        sa.Column("contacts_default_email1", sa.String(length=1000)),
        sa.Column("contacts_default_email2", sa.String(length=1000)),
        sa.Column("contacts_default_phone1", sa.String(length=1000)),
        sa.Column("contacts_default_phone2", sa.String(length=1000)),
        sa.Column("contacts_default_mobile", sa.String(length=1000)),
        sa.Column("contacts_default_pager", sa.String(length=1000)),
        sa.Column("contacts_default_fax", sa.String(length=1000)),
        sa.Column("contacts_default_url1", sa.String(length=1000)),
        sa.Column("contacts_default_url2", sa.String(length=1000)),
        sa.Column("contacts_default_company_name", sa.String(length=1000)),
        sa.Column("contacts_default_mailing_address_address_line1", sa.String(length=1000)),
        sa.Column("contacts_default_mailing_address_address_line2", sa.String(length=1000)),
        sa.Column("contacts_default_mailing_address_address_line3", sa.String(length=1000)),
        sa.Column("contacts_default_mailing_address_city", sa.String(length=1000)),
        sa.Column("contacts_default_mailing_address_state", sa.String(length=1000)),
        sa.Column("contacts_default_mailing_address_post_code", sa.String(length=1000)),
        sa.Column("contacts_default_mailing_address_country", sa.String(length=1000)),
        sa.Column("contacts_default_tax_is_taxable", sa.Boolean()),
        sa.Column("contacts_primary_key", sa.String(length=1000)),
        sa.Column("contacts_primary_id", sa.String(length=1000)),
        sa.Column("contacts_bill_to_key", sa.String(length=1000)),
        sa.Column("contacts_bill_to_id", sa.String(length=1000)),
        sa.Column("contacts_ship_to_key", sa.String(length=1000)),
        sa.Column("contacts_ship_to_id", sa.String(length=1000)),
        sa.Column("discount_percent", sa.String(length=1000)),
        sa.Column("term_key", sa.String(length=1000)),
        sa.Column("term_id", sa.String(length=1000)),
        sa.Column("advance_bill_by", sa.String(length=1000)),
        sa.Column("advance_bill_by_type", sa.String(length=1000)),
        sa.Column("total_due", sa.BigInteger()),
        sa.Column("last_invoice_created_date", sa.Date()),
        sa.Column("last_statement_generated_date", sa.Date()),
        sa.Column("resale_number", sa.BigInteger()),
        sa.Column("delivery_options", sa.String(length=1000)),
        sa.Column("override_price_list", sa.String(length=1000)),
        sa.Column("customer_message_id", sa.String(length=1000)),
        sa.Column("currency", sa.String(length=1000)),
        sa.Column("email_opt_in", sa.Boolean()),
        sa.Column("territory_key", sa.String(length=1000)),
        sa.Column("territory_id", sa.String(length=1000)),
        sa.Column("enable_online_achpayment", sa.Boolean()),
        sa.Column("enable_online_card_payment", sa.Boolean()),
        sa.Column("is_one_time_use", sa.Boolean()),
        sa.Column("account_group_key", sa.String(length=1000)),
        sa.Column("account_group_id", sa.String(length=1000)),
        sa.Column("account_label_key", sa.String(length=1000)),
        sa.Column("account_label_id", sa.String(length=1000)),
        sa.Column("attachment_key", sa.String(length=1000)),
        sa.Column("attachment_id", sa.String(length=1000)),
        sa.Column("retainage_percentage", sa.Float()),
        sa.Column("notes", sa.String(length=1000)),
        sa.Column("price_list_key", sa.String(length=1000)),
        sa.Column("price_list_id", sa.String(length=1000)),
        sa.Column("price_schedule_key", sa.String(length=1000)),
        sa.Column("price_schedule_id", sa.String(length=1000)),
        sa.Column("override_offset_glaccount_key", sa.String(length=1000)),
        sa.Column("override_offset_glaccount_id", sa.String(length=1000)),
        sa.Column("customer_restriction", sa.String(length=1000)),
        sa.Column("restricted_locations", sa.Text()),
        sa.Column("restricted_departments", sa.Text()),
        sa.Column("audit_created_date_time", UTCDateTime()),
        sa.Column("audit_modified_date_time", UTCDateTime()),
        sa.Column("audit_created_by", sa.String(length=1000)),
        sa.Column("audit_modified_by", sa.String(length=1000)),
        # Keys are never reused, even after the highest one is deleted.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_intacct_customers_tenant_key", TABLE, ["tenant_id", "key"])
    op.create_index("ix_intacct_customers_tenant_id", TABLE, ["tenant_id", "id"], unique=True)
    op.create_index("ix_intacct_customers_tenant_name", TABLE, ["tenant_id", "name"])
    op.create_index(
        "ix_intacct_customers_tenant_modified",
        TABLE,
        ["tenant_id", "audit_modified_date_time", "key"],
    )
    op.create_index("ix_intacct_customers_parent", TABLE, ["parent_key"])


def downgrade() -> None:
    op.drop_table(TABLE)
