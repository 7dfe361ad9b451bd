"""The credit card's, the mortgage's and the student loan's ``/liabilities/get`` details."""

from __future__ import annotations

from .ids import account_id


def liabilities(item_id: str) -> dict[str, list[dict[str, object]]]:
    return {
        "credit": [
            {
                "account_id": account_id(item_id, "3333"),
                "aprs": [
                    {
                        "apr_percentage": 15.24,
                        "apr_type": "balance_transfer_apr",
                        "balance_subject_to_apr": 1562.32,
                        "interest_charge_amount": 130.22,
                    },
                    {
                        "apr_percentage": 27.95,
                        "apr_type": "cash_apr",
                        "balance_subject_to_apr": 56.22,
                        "interest_charge_amount": 14.81,
                    },
                    {
                        "apr_percentage": 12.5,
                        "apr_type": "purchase_apr",
                        "balance_subject_to_apr": 157.01,
                        "interest_charge_amount": 25.66,
                    },
                    {
                        "apr_percentage": 0.0,
                        "apr_type": "special",
                        "balance_subject_to_apr": 1000.0,
                        "interest_charge_amount": 0.0,
                    },
                ],  # fmt: skip
                "is_overdue": False,
                "last_payment_amount": 168.25,
                "last_payment_date": "2019-05-22",
                "last_statement_issue_date": "2019-05-28",
                "last_statement_balance": 1708.77,
                "minimum_payment_amount": 20.0,
                "next_payment_due_date": "2020-05-28",
            }
        ],
        "mortgage": [
            {
                "account_id": account_id(item_id, "8888"),
                "account_number": "3120194154",
                "current_late_fee": 25.0,
                "escrow_balance": 3141.54,
                "has_pmi": True,
                "has_prepayment_penalty": True,
                "interest_rate": {"percentage": 3.99, "type": "fixed"},
                "last_payment_amount": 3141.54,
                "last_payment_date": "2019-08-01",
                "loan_term": "30 year",
                "loan_type_description": "conventional",
                "maturity_date": "2045-07-31",
                "next_monthly_payment": 3141.54,
                "next_payment_due_date": "2019-11-15",
                "origination_date": "2015-08-01",
                "origination_principal_amount": 425000.0,
                "past_due_amount": 2304.0,
                "property_address": {
                    "city": "Malakoff",
                    "country": "US",
                    "postal_code": "14236",
                    "region": "NY",
                    "street": "2992 Cameron Road",
                },
                "ytd_interest_paid": 12300.4,
                "ytd_principal_paid": 12340.5,
            }
        ],
        "student": [
            {
                "account_id": account_id(item_id, "7777"),
                "account_number": "4277075694",
                "disbursement_dates": ["2002-08-28"],
                "expected_payoff_date": "2032-07-28",
                "guarantor": "DEPT OF ED",
                "interest_rate_percentage": 5.25,
                "is_overdue": False,
                "last_payment_amount": 138.05,
                "last_payment_date": "2019-04-22",
                "last_statement_balance": 1708.77,
                "last_statement_issue_date": "2019-04-28",
                "loan_name": "Consolidation",
                "loan_status": {"end_date": "2032-07-28", "type": "repayment"},
                "minimum_payment_amount": 25.0,
                "next_payment_due_date": "2019-05-28",
                "origination_date": "2002-08-28",
                "origination_principal_amount": 25000.0,
                "outstanding_interest_amount": 6227.36,
                "payment_reference_number": "4277075694",
                "pslf_status": {
                    "estimated_eligibility_date": "2021-01-01",
                    "payments_made": 200,
                    "payments_remaining": 160,
                },
                "repayment_plan": {"description": "Standard Repayment", "type": "standard"},
                "sequence_number": "1",
                "servicer_address": {
                    "city": "Pittsburgh",
                    "country": "US",
                    "postal_code": "15219",
                    "region": "PA",
                    "street": "123 Main Street",
                },
                "ytd_interest_paid": 280.55,
                "ytd_principal_paid": 271.65,
            }
        ],
    }
