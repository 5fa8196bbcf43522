using ReverseSD.Cli;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(CliApp.Configure);
return await app.RunAsync(args);
