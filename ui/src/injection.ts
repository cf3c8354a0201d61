import { inject, InjectionKey } from 'vue'
import type { CsrfTokens } from './csrf'
import type { UiSettings } from './settings'

export type WardenUiSettings = UiSettings & { csrf: CsrfTokens }

export const uiSettingsKey: InjectionKey<WardenUiSettings> = Symbol('WardenUiSettings')

export function useUiSettings(): WardenUiSettings {
  const value = inject(uiSettingsKey)
  if (!value) {
    throw new Error('ui settings not provided')
  }
  return value
}
