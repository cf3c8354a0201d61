// Resources whose endpoints Warden does not serve: their pages are left out
// of the navigation and the library's links to them are switched off.
export const unsupportedResources = [
  'automation',
  'block',
  'notification_policy',
  'saved_search',
  'workspace_bot_access',
  'workspace_user_access',
]
