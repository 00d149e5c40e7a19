"""The SIP guard: source addresses that keep failing authentication are refused a while."""
