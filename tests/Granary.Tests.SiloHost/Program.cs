// One silo of a TestCluster whose silos are separate processes (StandaloneSiloHandle): the test
// process passes its id and the serialized cluster configuration; TestingHost builds the silo from
// it and applies the configurators it names (GranaryStandaloneSiloConfigurator among them).
// Socket completions as the production silo runs them (before the first socket).
Granary.Server.GranarySiloHost.PreferInlineSocketCompletions();
await Orleans.TestingHost.StandaloneSiloHost.Main(args);
