using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.OpenApi;
using ReverseSD.MLNet.Pipeline;

namespace ReverseSD.Serving;

/// <summary>
/// The scoring server of <c>reversesd serve</c> on ASP.NET Core minimal APIs: POST /v1/predict, POST /v1/predict/batch,
/// GET /healthz, GET /openapi/v1.json and the web page at GET /.
/// </summary>
public static class ReverseSdServer
{
    private const string ScoringPolicy = "scoring";
    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using var stream = typeof(ReverseSdServer).Assembly.GetManifestResourceStream("ReverseSD.Serving.index.html")
            ?? throw new InvalidOperationException("The web page resource is missing from the assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>Builds the server (Kestrel on <see cref="ServeOptions.Urls"/>) around an already loaded <paramref name="scoring"/> service.</summary>
    public static WebApplication Build(ServeOptions options, PromptScoringService scoring)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(scoring);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        AddServices(builder.Services, options, scoring);
        var app = builder.Build();
        Configure(app);
        return app;
    }

    /// <summary>Registers the scoring service, limits (Kestrel, form), the concurrency limiter, JSON (snake_case), problem details and OpenAPI.</summary>
    public static void AddServices(IServiceCollection services, ServeOptions options, PromptScoringService scoring)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(scoring);
        services.AddSingleton(options);
        services.AddSingleton(scoring);
        services.AddRouting();
        services.Configure<KestrelServerOptions>(k => k.Limits.MaxRequestBodySize = options.MaxUploadBytes);
        services.Configure<FormOptions>(f =>
        {
            f.MultipartBodyLengthLimit = options.MaxUploadBytes;
            f.ValueCountLimit = options.MaxBatchImages + 16;
        });
        services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownSeconds));
        services.ConfigureHttpJsonOptions(j => j.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        services.AddProblemDetails();
        services.AddOpenApi();
        services.AddRateLimiter(limiter =>
        {
            limiter.AddConcurrencyLimiter(ScoringPolicy, c =>
            {
                c.PermitLimit = options.MaxConcurrency;
                c.QueueLimit = options.MaxQueue;
                c.QueueProcessingOrder = QueueProcessingOrder.OldestFirst;
            });
            limiter.RejectionStatusCode = StatusCodes.Status503ServiceUnavailable;
            limiter.OnRejected = async (context, cancellationToken) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                await TypedResults.Problem(
                    $"All {options.MaxConcurrency} scorers are busy and {options.MaxQueue} requests already wait; retry after 1 s.",
                    statusCode: StatusCodes.Status503ServiceUnavailable, title: "Busy", type: Problems.Busy).ExecuteAsync(context.HttpContext);
            };
        });
    }

    /// <summary>The request pipeline: problem details for faults, routing, the concurrency limiter, the endpoints.</summary>
    public static void Configure(IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = _ => StatusCodes.Status500InternalServerError,
            ExceptionHandler = async context =>
            {
                var fault = context.Features.Get<IExceptionHandlerFeature>()?.Error;
                context.RequestServices.GetService<ILoggerFactory>()?.CreateLogger("ReverseSD.Serving").LogError(fault, "Unexpected fault");
                await TypedResults.Problem("The server failed on this request; the fault is logged.",
                    statusCode: StatusCodes.Status500InternalServerError, title: "Server fault", type: Problems.ServerFault).ExecuteAsync(context);
            },
        });
        app.UseRouting();
        app.UseRateLimiter();
        app.UseEndpoints(endpoints => MapEndpoints(endpoints));
    }

    private static void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapOpenApi();
        endpoints.MapGet("/", (HttpContext context) =>
        {
            // Everything the page needs is inline: no script, style, font or image from elsewhere.
            context.Response.Headers.ContentSecurityPolicy =
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob: data:; connect-src 'self'";
            return TypedResults.Bytes(Page.Value, "text/html; charset=utf-8");
        }).ExcludeFromDescription();
        endpoints.MapGet("/healthz", (PromptScoringService scoring) => TypedResults.Ok(new HealthResponse("ready", ModelOf(scoring))))
            .WithSummary("Ready: the model is loaded.");

        var v1 = endpoints.MapGroup("/v1").RequireRateLimiting(ScoringPolicy);
        // The request bodies are described for OpenAPI by a transformer, not by Accepts metadata: Accepts would make
        // routing answer a wrong content type with a bare 415, where the API promises a 400 problem that says what to send.
        v1.MapPost("/predict", PredictAsync)
            .AddOpenApiOperationTransformer((operation, _, _) => { operation.RequestBody = ImageRequestBody(batch: false); return Task.CompletedTask; })
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Predict the prompt of one image: a form field 'image', or a raw PNG/JPEG body.");
        v1.MapPost("/predict/batch", PredictBatchAsync)
            .AddOpenApiOperationTransformer((operation, _, _) => { operation.RequestBody = ImageRequestBody(batch: true); return Task.CompletedTask; })
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Predict the prompts of several images (one file part each); results in upload order.");
    }

    private static OpenApiRequestBody ImageRequestBody(bool batch)
    {
        var file = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
        var form = new OpenApiSchema
        {
            Type = JsonSchemaType.Object,
            Properties = new Dictionary<string, IOpenApiSchema>
            {
                [batch ? "images" : "image"] = batch ? new OpenApiSchema { Type = JsonSchemaType.Array, Items = file } : file,
            },
        };
        var content = new Dictionary<string, OpenApiMediaType> { ["multipart/form-data"] = new() { Schema = form } };
        if (!batch)
            foreach (string type in UploadReader.ImageContentTypes)
                content[type] = new OpenApiMediaType { Schema = file };
        return new OpenApiRequestBody
        {
            Required = true,
            Description = batch ? "One file part per image (any field name), in order." : "The image in the form field 'image', or the raw image as the body.",
            Content = content,
        };
    }

    private static async Task<Results<Ok<PredictionResponse>, ProblemHttpResult>> PredictAsync(
        HttpRequest request, PromptScoringService scoring, ServeOptions options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var (images, problem) = await UploadReader.ReadAsync(request, options, batch: false, cancellationToken);
        if (problem != null) return problem;
        if (UploadReader.Check(images[0]) is { } bad) return bad;
        var scored = scoring.Score(images, cancellationToken)[0];
        if (scored.Prediction == null)
            return Problems.BadRequest(Problems.CorruptImage, "Unusable image", $"'{scored.Name}': {scored.Problem}.");
        return TypedResults.Ok(Response(scored.Prediction, ModelOf(scoring), clock.Elapsed.TotalMilliseconds));
    }

    private static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> PredictBatchAsync(
        HttpRequest request, PromptScoringService scoring, ServeOptions options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var (images, problem) = await UploadReader.ReadAsync(request, options, batch: true, cancellationToken);
        if (problem != null) return problem;
        // A bad image in a batch is skipped and reported in its place; the others are scored in one library call.
        var errors = images.Select(i => UploadReader.Check(i)?.ProblemDetails.Detail).ToList();
        var usable = images.Where((_, i) => errors[i] == null).ToList();
        var scored = usable.Count == 0 ? [] : scoring.Score(usable, cancellationToken);
        var items = new List<BatchItemResponse>(images.Count);
        int next = 0;
        for (int i = 0; i < images.Count; i++)
        {
            if (errors[i] != null) { items.Add(new BatchItemResponse(i, images[i].Name, null, errors[i])); continue; }
            var s = scored[next++];
            items.Add(s.Prediction == null
                ? new BatchItemResponse(i, s.Name, null, $"'{s.Name}': {s.Problem}.")
                : new BatchItemResponse(i, s.Name, Response(s.Prediction, null, null), null));
        }
        int ok = items.Count(i => i.Prediction != null);
        if (ok == 0)
            return Problems.BadRequest(Problems.CorruptImage, "No usable image",
                $"None of the {images.Count} image(s) could be used; first: {items[0].Error}");
        return TypedResults.Ok(new BatchResponse(items, ok, items.Count - ok, ModelOf(scoring), clock.Elapsed.TotalMilliseconds));
    }

    private static PredictionResponse Response(PromptPrediction p, ModelResponse? model, double? elapsedMs) => new(
        p.ImagePath, p.Prompt, p.PromptScore, p.NearestPrompts.Select(m => new ScoredPromptResponse(m.Prompt, m.Score)).ToList(),
        p.TopWords.Select(w => new WordResponse(w.Word, w.Probability)).ToList(), p.Embedding, model, elapsedMs);

    private static ModelResponse ModelOf(PromptScoringService scoring) =>
        new(scoring.Model.Format, scoring.Model.Backbones, scoring.Model.TrainedAt, scoring.Model.File);
}
