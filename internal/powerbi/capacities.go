package powerbi

import "context"

// CapacitiesService calls the capacity operations (capacities).
type CapacitiesService service

// Capacity is a Premium or Fabric capacity the caller can see.
type Capacity struct {
	ID                      string   `json:"id"`
	DisplayName             string   `json:"displayName,omitempty"`
	SKU                     string   `json:"sku,omitempty"`
	State                   string   `json:"state,omitempty"`
	Region                  string   `json:"region,omitempty"`
	Admins                  []string `json:"admins,omitempty"`
	CapacityUserAccessRight string   `json:"capacityUserAccessRight,omitempty"`
}

// List returns the capacities the caller has access to.
//
// Power BI REST operation: Capacities_GetCapacities
func (s *CapacitiesService) List(ctx context.Context) ([]Capacity, *Response, error) {
	return list[Capacity](ctx, s.client, "capacities")
}
