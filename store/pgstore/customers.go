package pgstore

import (
	"context"

	"github.com/magiclink-go/magiclink/store"
)

const putCustomerSQL = `
INSERT INTO {schema}.customers (id, email, org_id) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, org_id = EXCLUDED.org_id`

const customerByIDSQL = `SELECT email, org_id FROM {schema}.customers WHERE id = $1`

// PutCustomer implements store.Customers.
func (s *Store) PutCustomer(ctx context.Context, c *store.Customer) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if _, err := s.db.exec(ctx, "put_customer", s.q.putCustomer, c.ID, c.Email, c.OrgID); err != nil {
		return s.fail(ctx, "put customer", err)
	}
	return nil
}

// CustomerByID implements store.Customers.
func (s *Store) CustomerByID(ctx context.Context, id string) (*store.Customer, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	c := &store.Customer{ID: id}
	if err := s.db.queryRow(ctx, "customer_by_id", s.q.customerByID, id).Scan(&c.Email, &c.OrgID); err != nil {
		return nil, s.fail(ctx, "customer by id", err)
	}
	return c, nil
}
