using System.ComponentModel;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ReverseSD.Serving;
using Spectre.Console.Cli;

namespace ReverseSD.Cli.Commands;

/// <summary>`reversesd serve`: the HTTP scoring API and web page over a saved model, until Ctrl-C or SIGTERM.</summary>
internal sealed class ServeCommand(CliStreams streams) : AsyncCommand<ServeCommand.Settings>
{
    /// <summary>Options of `serve`.</summary>
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--model <PATH>")]
        [Description("Model zip written by 'reversesd train'.")]
        public string Model { get; init; } = "";

        [CommandOption("--bank <PATH>")]
        [Description("Prompt bank ('reversesd bank build') to search; default: the bank inside the model zip, if any.")]
        public string? Bank { get; init; }

        [CommandOption("--compose <METHOD>")]
        [Description("How the prompt is made: beam (default), greedy (baseline) or none (the nearest bank prompt), as predict.")]
        public string Compose { get; init; } = "beam";

        [CommandOption("--urls <URLS>")]
        [Description("Addresses to listen on, ';'-separated (default http://127.0.0.1:5000: loopback only).")]
        public string Urls { get; init; } = ServeOptions.Defaults.Urls;

        [CommandOption("--max-concurrency <N>")]
        [Description("Requests scored at the same time (default: the number of cores); more wait in a bounded queue.")]
        public int? MaxConcurrency { get; init; }

        [CommandOption("--max-queue <N>")]
        [Description("Requests that may wait for a scorer; beyond it 503 with Retry-After (default 64).")]
        public int MaxQueue { get; init; } = ServeOptions.Defaults.MaxQueue;

        [CommandOption("--max-upload-mb <MB>")]
        [Description("Largest request body in megabytes; larger uploads get 413 (default 20).")]
        public int MaxUploadMb { get; init; } = 20;

        [CommandOption("--top-words <N>")]
        [Description("Vocabulary words returned per image (default 10).")]
        public int TopWords { get; init; } = ServeOptions.Defaults.TopWords;

        [CommandOption("--shutdown-timeout <SECONDS>")]
        [Description("After Ctrl-C or SIGTERM, seconds in-flight requests get to finish before they are cut (default 30).")]
        public int ShutdownTimeout { get; init; } = ServeOptions.Defaults.ShutdownSeconds;

        /// <summary>The server options these settings give.</summary>
        public ServeOptions ToOptions() => new()
        {
            ModelPath = Model,
            BankPath = Bank,
            Composition = ComposeCommand.ParseMethod(Compose) ?? MLNet.Composer.CompositionMethod.Beam,
            Urls = Urls,
            MaxConcurrency = MaxConcurrency ?? Environment.ProcessorCount,
            MaxQueue = MaxQueue,
            MaxUploadBytes = MaxUploadMb * 1024L * 1024,
            TopWords = TopWords,
            ShutdownSeconds = ShutdownTimeout,
        };

        public override Spectre.Console.ValidationResult Validate()
        {
            if (ComposeCommand.ParseMethod(Compose) == null)
                return Spectre.Console.ValidationResult.Error($"--compose must be beam, greedy or none; got '{Compose}'.");
            try
            {
                ToOptions().Validate();
                return Spectre.Console.ValidationResult.Success();
            }
            catch (MLNet.ReverseSdInputException e)
            {
                return Spectre.Console.ValidationResult.Error(e.Message);
            }
        }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var options = settings.ToOptions();
        using var scoring = new PromptScoringService(options);
        await using var app = ReverseSdServer.Build(options, scoring);
        await app.StartAsync(CancellationToken.None);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        // Diagnostics go to stderr; the first line names the addresses so scripts can wait for it.
        streams.Error.WriteLine($"listening on {string.Join(", ", addresses)} (model {scoring.Model.File}, {options.MaxConcurrency} scorers); Ctrl-C or SIGTERM stops it");
        // Ctrl-C and SIGTERM stop the host: it stops accepting, lets in-flight requests finish (up to the shutdown timeout), then returns.
        await app.WaitForShutdownAsync(CancellationToken.None);
        streams.Error.WriteLine("stopped: in-flight requests finished");
        return 0;
    }
}
