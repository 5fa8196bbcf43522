// The full system of the paper in the shape of Model Builder's generated code: one ML.NET estimator chain — for each
// backbone its features and heads trained with the curriculum (§3), the ensemble (§4.9), DAKL adapting to the unlabelled
// target-domain images (§3, Eq. 5-7), the nearest prompts of a prompt bank (§4.10) — one Fit, one Save, then the
// PredictionEngine code an app uses. Run it from the repository root (it builds the library on first use):
//   dotnet run pipelines/train-ensemble-dakl.cs                                          # generates a small benchmark first
//   dotnet run pipelines/train-ensemble-dakl.cs -- DATA_DIR model.zip [EPOCHS] [BACKBONES]   # e.g. 20 resnet18,resnet18-288
// Edit it freely: the members, the combination rule, DAKL's r, γ and α, the curriculum, the prompt bank.
#:project ../src/ReverseSD.MLNet/ReverseSD.MLNet.csproj
#:property PublishAot=false

using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Dakl;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Evaluation;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

string dataDirectory = args.Length > 0 ? args[0] : Path.Combine("out", "pipeline-benchmark");
string modelPath = args.Length > 1 ? args[1] : Path.Combine("out", "pipeline-ensemble.zip");
int epochs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20;
string[] backbones = (args.Length > 3 ? args[3] : "resnet18,resnet18-160").Split(',');
if (!File.Exists(Path.Combine(dataDirectory, "train", ImageFolderDataset.MetadataFileName)))
{
    Console.WriteLine($"Generating a small benchmark in {dataDirectory} ...");
    SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 600, Validation = 100, Test = 100, Seed = 1 }, dataDirectory);
}

var mlContext = new MLContext(seed: 1);
// One data view: the labelled training images, then the validation and test images with an empty Prompt. The heads train
// on the labelled rows only; DAKL uses the empty-prompt rows as its unlabelled target domain (their prompts are never read).
List<ModelInput> Images(string split, bool labelled) => ImageFolderDataset.Read(dataDirectory, split)
    .Select(p => new ModelInput { ImagePath = Path.GetFullPath(Path.Combine(dataDirectory, split, p.FileName)), Prompt = labelled ? p.Prompt : "" }).ToList();
bool hasValidation = File.Exists(Path.Combine(dataDirectory, "validation", ImageFolderDataset.MetadataFileName));
var validationRows = hasValidation ? Images("validation", labelled: true) : [];
IDataView train = mlContext.Data.LoadFromEnumerable(Images("train", labelled: true)
    .Concat(hasValidation ? Images("validation", labelled: false) : []).Concat(Images("test", labelled: false)).ToList());
IDataView validation = mlContext.Data.LoadFromEnumerable(validationRows);

// Every member: its backbone (ImagePath -> ImageFeatures) and heads (configuration 3, λ = 0.1, the curriculum easy -> all in
// equal thirds) with the raw Prompt as label; the validation images through the same backbone pick the best epoch. Members
// are appended last to first so the first member's vocabulary columns and ModelInfo stay visible; each member's
// PredictedEmbedding is copied to MemberEmbedding{k}.
IEstimator<ITransformer> pipeline = new EstimatorChain<ITransformer>();
for (int k = backbones.Length - 1; k >= 0; k--)
{
    var backbone = mlContext.Transforms.ApplyImageBackbone(ImageBackbone.Resolve(backbones[k]), "ImageFeatures", "ImagePath");
    var heads = mlContext.Regression.Trainers.PromptEmbeddingHeads(new PromptEmbeddingHeadsTrainer.Options
    {
        LabelColumnName = "Prompt",
        Configuration = HeadConfiguration.EmbeddingFeedsVocabulary,
        VocabularyWeight = 0.1f,
        VocabularySize = 1000,
        NumberOfEpochs = epochs,
        Seed = 1,
        Curriculum = new CurriculumOptions { Splitting = CurriculumSplitting.Thirds },
        ValidationData = hasValidation ? mlContext.Data.Cache(backbone.Fit(validation).Transform(validation)) : null,
    });
    pipeline = pipeline.Append(backbone).Append(heads).Append(mlContext.Transforms.CopyColumns($"MemberEmbedding{k + 1}", "PredictedEmbedding"));
}
pipeline = pipeline
    .AppendCacheCheckpoint(mlContext)                                        // the backbones run once over the training rows
    // Mean of the L2-normalised members -> EnsembleEmbedding.
    .Append(mlContext.Transforms.CombineEmbeddings(backbones.Select((_, k) => $"MemberEmbedding{k + 1}").ToArray(), "EnsembleEmbedding", EnsembleCombination.Mean))
    // DAKL: r = 10,000 centroids (capped at the training set size), γ = 0.001, α = 10; labelled rows fit it, empty-prompt rows adapt it.
    .Append(mlContext.Regression.Trainers.DomainAdaptiveKernel(new DomainAdaptiveKernelOptions
    {
        InputColumnName = "EnsembleEmbedding",
        LabelColumnName = "Prompt",
        OutputColumnName = "PredictedEmbedding",
        NumberOfCentroids = 10_000,
        Gamma = 0.001f,
        Alpha = 10f,
        Seed = 1,
    }))
    // Nearest prompts of a prompt bank (here the training prompts, embedded at Fit) to the predicted embedding.
    .Append(mlContext.Transforms.NearestPrompts(train, numberOfPrompts: 3));

Console.WriteLine($"Training {backbones.Length} members + ensemble + DAKL + prompt bank (one Fit) ...");
var model = pipeline.Fit(train);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
mlContext.Model.Save(model, train.Schema, modelPath);
Console.WriteLine($"saved {modelPath}");

// Evaluate on the test split: mean cosine between predicted and true prompt embeddings, before and after DAKL.
IDataView test = ImageFolderDataset.Load(mlContext, dataDirectory, "test");
var scoredTest = mlContext.Transforms.Text.EmbedSentences("PromptEmbedding", "Prompt").Fit(test).Transform(model.Transform(test));
var ensembleMetrics = PromptEmbeddingEvaluator.Evaluate(scoredTest, "EnsembleEmbedding");
var metrics = PromptEmbeddingEvaluator.Evaluate(scoredTest);
Console.WriteLine($"test mean cosine: ensemble {ensembleMetrics.MeanCosine:F4} ± {ensembleMetrics.StandardError:F4}, "
    + $"ensemble + DAKL {metrics.MeanCosine:F4} ± {metrics.StandardError:F4} (n = {metrics.Count})");

// What an app does: load the zip (Microsoft.ML + ImageAnalytics + OnnxTransformer are enough) and score one image.
var appContext = new MLContext();
ITransformer loaded = appContext.Model.Load(modelPath, out _);
var engine = appContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(loaded);
string image = ImageFolderDataset.Read(dataDirectory, "test").Select(p => Path.Combine(dataDirectory, "test", p.FileName)).First();
var output = engine.Predict(new ModelInput { ImagePath = Path.GetFullPath(image) });
Console.WriteLine($"{Path.GetFileName(image)}: {output.PredictedEmbedding.Length}-d embedding; nearest prompts:");
for (int i = 0; i < output.NearestPrompts.Length; i++)
    Console.WriteLine($"  {output.NearestPromptScores[i]:F3}  {output.NearestPrompts[i]}");
(loaded as IDisposable)?.Dispose();
(model as IDisposable)?.Dispose();

/// <summary>The model's input: the image file path (the Prompt is read only by training).</summary>
public sealed class ModelInput
{
    public string ImagePath { get; set; } = "";

    public string Prompt { get; set; } = "";
}

/// <summary>The model's outputs: the predicted prompt embedding and the nearest prompts of the bank with their cosines.</summary>
public sealed class ModelOutput
{
    public float[] PredictedEmbedding { get; set; } = [];

    public string[] NearestPrompts { get; set; } = [];

    public float[] NearestPromptScores { get; set; } = [];
}
