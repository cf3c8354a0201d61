package apitype

// UISettings is the body of GET /ui-settings (Prefect's UISettings model).
// All eight fields are always sent; Auth is "BASIC" or null, and the base
// URLs are null for UI bundles the server does not mount.
type UISettings struct {
	APIURL       string   `json:"api_url"`
	CSRFEnabled  bool     `json:"csrf_enabled"`
	Auth         *string  `json:"auth"`
	Flags        []string `json:"flags"`
	DefaultUI    string   `json:"default_ui"`
	AvailableUIs []string `json:"available_uis"`
	V1BaseURL    *string  `json:"v1_base_url"`
	V2BaseURL    *string  `json:"v2_base_url"`
}
