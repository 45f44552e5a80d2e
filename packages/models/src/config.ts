// config.json is read, its architecture named and its sizes checked by @autoround/core (hosts and exporters read it too)
export { architectureOf, intField, numField, readConfig } from '@autoround/core';
