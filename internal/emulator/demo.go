package emulator

// Fixed ids of the demo seed, so that the demo and the docs can name them.
const (
	DemoTenantID          = "72f988bf-0000-4000-8000-00000000c0de"
	DemoAppClientID       = "5c0ffee0-0000-4000-8000-000000000001"
	DemoAppObjectID       = "5c0ffee0-0000-4000-8000-000000000002"
	DemoAppSecret         = "demo-app-secret"
	DemoUserUPN           = "admin@contoso.com"
	DemoUserPassword      = "demo-password"
	DemoColleagueUPN      = "alex@contoso.com"
	DemoCapacityID        = "ca9ac17e-0000-4000-8000-000000000001"
	DemoDevWorkspaceID    = "de7e1000-0000-4000-8000-000000000001"
	DemoProdWorkspaceID   = "de7e1000-0000-4000-8000-000000000003"
	DemoOrganizationID    = "0d9a0000-0000-4000-8000-000000000001"
	DemoProjectID         = "0d9a0000-0000-4000-8000-000000000002"
	DemoServiceConnection = "0d9a0000-0000-4000-8000-000000000003"
)

// DemoSeed is the built-in starting state of the standalone emulator and the demo: one tenant,
// one app with a secret (and a workload identity federation for the demo Azure DevOps service
// connection), two users, one capacity, a Development workspace with 3 datasets, 3 reports and
// 1 dashboard, an empty Production workspace, and the demo Azure DevOps organisation.
func DemoSeed() *Seed {
	app := WorkspaceUser{Identifier: DemoAppObjectID, PrincipalType: "App", GroupUserAccessRight: "Admin"}
	user := WorkspaceUser{Identifier: DemoUserUPN, PrincipalType: "User", GroupUserAccessRight: "Admin"}
	return &Seed{
		TenantID: DemoTenantID,
		Resource: DefaultResource,
		Apps: []App{{
			ClientID: DemoAppClientID, ObjectID: DemoAppObjectID, DisplayName: "pbi-deployer", Secret: DemoAppSecret,
			FederatedCredentials: []FederatedCredential{{
				Issuer:  "https://vstoken.dev.azure.com/" + DemoOrganizationID,
				Subject: "sc://contoso/analytics/powerbi-emulator",
			}},
		}},
		Users: []User{
			{UPN: DemoUserUPN, ObjectID: "a11ce000-0000-4000-8000-000000000001", DisplayName: "Contoso Admin", Password: DemoUserPassword},
			{UPN: DemoColleagueUPN, ObjectID: "a11ce000-0000-4000-8000-000000000002", DisplayName: "Alex Wilber"},
		},
		Capacities: []Capacity{{ID: DemoCapacityID, DisplayName: "Demo capacity", SKU: "F2", State: "Active", Region: "West Europe",
			Admins: []string{DemoUserUPN, DemoAppObjectID}}},
		Workspaces: []Workspace{
			{
				ID: DemoDevWorkspaceID, Name: "Sales [Development]", CapacityID: DemoCapacityID,
				Users: []WorkspaceUser{user, app},
				Datasets: []Item{
					{ID: "da7a5e70-0000-4000-8000-000000000001", Name: "Sales"},
					{ID: "da7a5e70-0000-4000-8000-000000000002", Name: "Inventory"},
					{ID: "da7a5e70-0000-4000-8000-000000000003", Name: "Customers"},
				},
				Reports: []Item{
					{ID: "4e904700-0000-4000-8000-000000000001", Name: "Sales overview", DatasetID: "da7a5e70-0000-4000-8000-000000000001"},
					{ID: "4e904700-0000-4000-8000-000000000002", Name: "Stock levels", DatasetID: "da7a5e70-0000-4000-8000-000000000002"},
					{ID: "4e904700-0000-4000-8000-000000000003", Name: "Customer churn", DatasetID: "da7a5e70-0000-4000-8000-000000000003"},
				},
				Dashboards: []Item{{ID: "da5ab0a4-0000-4000-8000-000000000001", Name: "Executive dashboard"}},
			},
			{ID: DemoProdWorkspaceID, Name: "Sales [Production]", CapacityID: DemoCapacityID, Users: []WorkspaceUser{user, app}},
		},
		Azure: AzureDevOps{
			OrganizationName: "contoso", OrganizationID: DemoOrganizationID,
			ProjectName: "analytics", ProjectID: DemoProjectID,
			JobToken:           "demo-system-access-token",
			ServiceConnections: []ServiceConnection{{ID: DemoServiceConnection, Name: "powerbi-emulator"}},
		},
	}
}
