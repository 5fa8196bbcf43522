using System.Text.Json.Serialization;

namespace ReverseSD.Serving;

/// <summary>One image's prediction as the API returns it (snake_case JSON): the fields of <c>reversesd predict</c>, the model and the time taken.</summary>
/// <param name="Image">The uploaded file's name.</param>
/// <param name="Prompt">The composed prompt; null when the model and bank give none.</param>
/// <param name="PromptScore">The composed prompt's cosine to the predicted embedding; null without a prompt.</param>
/// <param name="NearestPrompts">The bank's nearest prompts with their cosines, best first (empty without a bank).</param>
/// <param name="Words">The most probable vocabulary words, most probable first.</param>
/// <param name="Embedding">The predicted 384-d prompt embedding (unit norm).</param>
/// <param name="Model">The served model; omitted inside a batch (the batch carries it once).</param>
/// <param name="ElapsedMs">Milliseconds the server spent on the request; omitted inside a batch.</param>
public sealed record PredictionResponse(
    string Image,
    string? Prompt,
    double? PromptScore,
    IReadOnlyList<ScoredPromptResponse> NearestPrompts,
    IReadOnlyList<WordResponse> Words,
    float[] Embedding,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ModelResponse? Model,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? ElapsedMs);

/// <summary>A prompt from the bank and its cosine to the predicted embedding.</summary>
/// <param name="Prompt">The prompt text.</param>
/// <param name="Score">Its cosine similarity to the predicted embedding.</param>
public sealed record ScoredPromptResponse(string Prompt, double Score);

/// <summary>A vocabulary word and its predicted probability.</summary>
/// <param name="Word">The word.</param>
/// <param name="Probability">The vocabulary head's sigmoid output for it.</param>
public sealed record WordResponse(string Word, float Probability);

/// <summary>The served model, as <see cref="ModelDescription"/> in JSON.</summary>
/// <param name="Format">The model format version.</param>
/// <param name="Backbones">The image backbones.</param>
/// <param name="TrainedAt">When the zip was saved by training (UTC), or null.</param>
/// <param name="File">The zip's file name.</param>
public sealed record ModelResponse(string Format, IReadOnlyList<string> Backbones, DateTimeOffset? TrainedAt, string File);

/// <summary>The answer to a batch: one item per uploaded image in upload order, each a prediction or an error.</summary>
/// <param name="Results">Per image, in order.</param>
/// <param name="Scored">How many images were scored.</param>
/// <param name="Skipped">How many images were skipped (their item has an error).</param>
/// <param name="Model">The served model.</param>
/// <param name="ElapsedMs">Milliseconds the server spent on the request.</param>
public sealed record BatchResponse(IReadOnlyList<BatchItemResponse> Results, int Scored, int Skipped, ModelResponse Model, double ElapsedMs);

/// <summary>One image of a batch: its prediction, or the reason it was skipped.</summary>
/// <param name="Index">Its position in the upload (0-based).</param>
/// <param name="Image">The uploaded file's name.</param>
/// <param name="Prediction">The prediction, or null when skipped.</param>
/// <param name="Error">Why it was skipped, or null.</param>
public sealed record BatchItemResponse(
    int Index,
    string Image,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] PredictionResponse? Prediction,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);

/// <summary>The answer of GET /healthz.</summary>
/// <param name="Status">"ready" once the model is loaded (the server listens only after that).</param>
/// <param name="Model">The served model.</param>
public sealed record HealthResponse(string Status, ModelResponse Model);
